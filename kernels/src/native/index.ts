/**
 * Native CPU kernels (kernels/native, C++ through N-API): MatMul/BatchMatMul for the tfjs CPU
 * backend, a fused blockwise attention, and GELU/RMSNorm for the training step's fused ops.
 * Optional by design: when the addon is not built, loadNativeAddon/nativeStatus say why,
 * installNativeKernels reports installed: false, and the pure-JS tfjs path keeps working.
 */
export {
  loadNativeAddon,
  type LoadNativeOptions,
  type NativeAddon,
  type NativeAddonInfo,
  type NativeLoadResult,
  type NativeVariant,
} from './addon';
export { nativeStatus, type NativeStatus } from './status';
export { createNativeKernel, nativeKernel, type NativeKernelOptions } from './attention';
export { installNativeKernels, uninstallNativeKernels, nativeKernelsInstalled, type InstallResult } from './matmul-kernels';
export { planBatchMatMul, type BatchPlan } from './batch-plan';
export { sgemm, type SgemmArgs } from './sgemm';
export { nativeElementwise, type NativeElementwise } from './elementwise';
