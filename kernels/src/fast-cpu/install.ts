import * as tf from '@tensorflow/tfjs';
import { BINARY_OPS, binaryKernel } from './binary';
import { sliceKernel, splitVKernel, transposeKernel } from './copy';
import { unsortedSegmentSumKernel } from './segment-sum';

/**
 * Each fast kernel, made from the tfjs kernel it replaces (its fallback). Gradients are registered
 * per kernel name, not per implementation, so replacing the forward kernel leaves them unchanged.
 */
const FAST_KERNELS: Record<string, (original: tf.KernelFunc) => tf.KernelFunc> = {
  ...Object.fromEntries(Object.keys(BINARY_OPS).map((name) => [name, (original: tf.KernelFunc) => binaryKernel(name, original)])),
  [tf.Transpose]: transposeKernel,
  [tf.Slice]: sliceKernel,
  [tf.SplitV]: splitVKernel,
  [tf.UnsortedSegmentSum]: unsortedSegmentSumKernel,
};

const originals = new Map<string, tf.KernelConfig>();

/**
 * Replaces the tfjs `cpu` backend's broadcasting binary ops (Add, Sub, Multiply, RealDiv, Maximum,
 * Minimum, SquaredDifference; float32), Transpose, Slice and SplitV (float32, int32) and UnsortedSegmentSum (float32) with loops that
 * allocate nothing per element. Results are bit-identical. Idempotent; returns the kernel names
 * now replaced. Kernels of other backends, and tfjs kernels that call these internally (Softmax,
 * Sum's transpose, SplitV's slices…), are not affected.
 */
export function installFastCpuKernels(): { installed: string[] } {
  const installed: string[] = [];
  for (const [name, make] of Object.entries(FAST_KERNELS)) {
    const original = originals.get(name) ?? tf.getKernel(name, 'cpu');
    if (original === undefined) continue;
    originals.set(name, original);
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel({ ...original, kernelFunc: make(original.kernelFunc) });
    installed.push(name);
  }
  return { installed };
}

/** Puts tfjs's own CPU kernels back. A no-op when nothing is installed. */
export function uninstallFastCpuKernels(): void {
  for (const [name, config] of originals) {
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel(config);
  }
  originals.clear();
}
