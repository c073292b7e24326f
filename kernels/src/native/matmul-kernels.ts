import * as tf from '@tensorflow/tfjs';
import { loadNativeAddon, type LoadNativeOptions, type NativeAddon } from './addon';
import { planBatchMatMul } from './batch-plan';
import { float32Values, type CpuBackendLike } from './cpu-data';

/**
 * tf.matMul runs the 'BatchMatMul' kernel (attrs transposeA/transposeB, inputs of rank >= 2 with
 * broadcasting batch dims), and so does its gradient; tf.fused.matMul runs '_FusedMatMul'. On the
 * CPU backend both become the addon's gemm here; anything but float32 goes to tfjs's own kernel.
 */
type KernelArgs = Parameters<tf.KernelFunc>[0];

function batchMatMulKernel(addon: NativeAddon, original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as CpuBackendLike;
    const av = float32Values(backend, a);
    const bv = float32Values(backend, b);
    if (av === null || bv === null) return original(args);
    const plan = planBatchMatMul(a.shape, b.shape, transposeA, transposeB);
    const out = new Float32Array(plan.aOffsets.length * plan.M * plan.N);
    if (out.length > 0) addon.batchMatMul(av, bv, out, plan.aOffsets, plan.bOffsets, plan.M, plan.N, plan.K, transposeA, transposeB, 0);
    return backend.makeTensorInfo(plan.outShape, 'float32', out);
  };
}

/** Runs another registered CPU kernel (Add, Relu, …) on TensorInfos. */
function runCpuKernel(name: string, inputs: tf.NamedTensorInfoMap, backend: CpuBackendLike, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  return tf.getKernel(name, 'cpu').kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** The activations tf.fused.matMul accepts, as the CPU kernels that compute them. */
function activate(x: tf.TensorInfo, attrs: tf.NamedAttrMap, prelu: tf.TensorInfo | undefined, backend: CpuBackendLike): tf.TensorInfo {
  const activation = attrs.activation as string;
  switch (activation) {
    case 'relu':
      return runCpuKernel('Relu', { x }, backend);
    case 'relu6':
      return runCpuKernel('Relu6', { x }, backend);
    case 'elu':
      return runCpuKernel('Elu', { x }, backend);
    case 'sigmoid':
      return runCpuKernel('Sigmoid', { x }, backend);
    case 'prelu':
      return runCpuKernel('Prelu', { x, alpha: prelu }, backend);
    case 'leakyrelu':
      return runCpuKernel('LeakyRelu', { x }, backend, { alpha: attrs.leakyreluAlpha as number });
    default:
      throw new Error(`Activation ${activation} has not been implemented for the CPU backend.`);
  }
}

function fusedMatMulKernel(matMul: tf.KernelFunc, original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs ?? {};
    if (a?.dtype !== 'float32' || b?.dtype !== 'float32') return original(args);
    const backend = args.backend as CpuBackendLike;
    const { transposeA, transposeB } = attrs;
    let current = matMul({ inputs: { a, b }, backend, attrs: { transposeA, transposeB } }) as tf.TensorInfo;
    if (bias) {
      const next = runCpuKernel('Add', { a: current, b: bias }, backend);
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    if (attrs.activation && attrs.activation !== 'linear') {
      const next = activate(current, attrs, preluActivationWeights, backend);
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    return current;
  };
}

export interface InstallResult {
  installed: boolean;
  /** True when MatMul now runs on OpenBLAS (false: the portable gemm, or not installed). */
  blas: boolean;
  reason?: string;
}

const originals = new Map<string, tf.KernelConfig>();

function replaceKernel(kernelName: string, make: (original: tf.KernelFunc) => tf.KernelFunc): tf.KernelFunc {
  const original = originals.get(kernelName) ?? tf.getKernel(kernelName, 'cpu');
  if (!originals.has(kernelName)) originals.set(kernelName, original);
  tf.unregisterKernel(kernelName, 'cpu');
  const kernelFunc = make(original.kernelFunc);
  tf.registerKernel({ ...original, kernelFunc });
  return kernelFunc;
}

/**
 * Replaces the CPU backend's BatchMatMul and _FusedMatMul with the addon's gemm. Idempotent;
 * calling it again (e.g. with another variant) swaps the native kernels. Never throws: without
 * the addon it returns installed: false and the reason, and tfjs's kernels stay.
 */
export function installNativeKernels(opts: LoadNativeOptions = {}): InstallResult {
  const r = loadNativeAddon(opts);
  if (r.addon === null) return { installed: false, blas: false, reason: r.reason };
  const addon = r.addon;
  if (tf.getKernel('BatchMatMul', 'cpu') === undefined) {
    return { installed: false, blas: false, reason: 'the tfjs cpu backend registered no BatchMatMul kernel' };
  }
  const matMul = replaceKernel('BatchMatMul', (original) => batchMatMulKernel(addon, original));
  if (originals.has('_FusedMatMul') || tf.getKernel('_FusedMatMul', 'cpu') !== undefined) {
    replaceKernel('_FusedMatMul', (original) => fusedMatMulKernel(matMul, original));
  }
  return { installed: true, blas: addon.info().blas === 'openblas' };
}

/** Puts tfjs's own CPU kernels back. A no-op when nothing is installed. */
export function uninstallNativeKernels(): void {
  for (const [kernelName, config] of originals) {
    tf.unregisterKernel(kernelName, 'cpu');
    tf.registerKernel(config);
  }
  originals.clear();
}

/** Whether installNativeKernels() is in force. */
export function nativeKernelsInstalled(): boolean {
  return originals.size > 0;
}
