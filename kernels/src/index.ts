/**
 * @ringtrain/kernels: the math of one attention block and its oracle. Pure math: no network,
 * no filesystem. Tensors are head-major [H, S, D]; the reference and the converters speak the
 * global sequence-major layout [S, H, D]. The optional native addon (./native) adds a fast
 * MatMul for the tfjs CPU backend and a fused attention kernel.
 */
export type { AttentionKernel, BlockBackwardInputs, BlockForward, BlockGrads, BlockInputs } from './types';
export { backwardAsync, forwardAsync } from './types';
export { tfjsKernel } from './block-attention';
export { webgpuKernel } from './webgpu';
export { blockDims, backwardDims, type BlockDims } from './block-dims';
export { blockMask, blockVisibility, documentPair, maskBias, type BlockMask, type BlockVisibility } from './mask';
export { mergePartial, mergeInto, disposeForward } from './merge';
export {
  referenceForward,
  referenceBackward,
  referenceForward64,
  referenceBackward64,
  type FloatArray,
  type ReferenceInputs,
  type ReferenceBackwardInputs,
  type ReferenceForward,
  type ReferenceGrads,
} from './reference';
export { toHeadMajor, fromHeadMajor, toHeadMajor2D, fromHeadMajor2D, readHeadMajor, readHeadMajor2D } from './layout-convert';
export { ensureCpuBackend, type CpuBackendOptions } from './backend';
export { errorStats, type ErrorStats } from './error-stats';
export {
  loadNativeAddon,
  nativeStatus,
  nativeKernel,
  createNativeKernel,
  installNativeKernels,
  uninstallNativeKernels,
  nativeKernelsInstalled,
  planBatchMatMul,
  sgemm,
  nativeElementwise,
  type BatchPlan,
  type InstallResult,
  type LoadNativeOptions,
  type NativeAddon,
  type NativeAddonInfo,
  type NativeElementwise,
  type NativeKernelOptions,
  type NativeLoadResult,
  type NativeStatus,
  type NativeVariant,
  type SgemmArgs,
} from './native';
export { installFastCpuKernels, uninstallFastCpuKernels } from './fast-cpu';
