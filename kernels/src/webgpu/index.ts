/**
 * Fused flash attention in WGSL for tfjs's WebGPU backend. Only types come from the webgpu
 * package, so importing this never loads it; the kernel needs the backend active
 * (initWebgpuBackend from @ringtrain/webgpu).
 */
export { webgpuKernel } from './webgpu-kernel';
