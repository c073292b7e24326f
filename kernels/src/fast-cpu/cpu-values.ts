import * as tf from '@tensorflow/tfjs';
import type { Values } from './strided';

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * The slice of tfjs's CPU backend (MathBackendCPU) the fast kernels use: its storage map holds
 * each tensor's typed array itself, so reading it copies nothing.
 */
export interface CpuBackendLike {
  data: { get(dataId: tf.DataId): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Values): tf.TensorInfo;
}

// Not `instanceof`: under jest, tfjs and this module may see different realms' constructors.
const tagOf = (x: unknown) => Object.prototype.toString.call(x);

/** A float32 tensor's stored Float32Array; null for other dtypes or unmaterialised values. */
export function float32Values(backend: CpuBackendLike, t: tf.TensorInfo): Float32Array | null {
  const values = t.dtype === 'float32' ? backend.data.get(t.dataId)?.values : undefined;
  return tagOf(values) === '[object Float32Array]' ? (values as Float32Array) : null;
}

/** A float32 or int32 tensor's stored typed array; null otherwise (bool, string, complex64…). */
export function numericValues(backend: CpuBackendLike, t: tf.TensorInfo): Values | null {
  if (t.dtype === 'int32') {
    const values = backend.data.get(t.dataId)?.values;
    return tagOf(values) === '[object Int32Array]' ? (values as Int32Array) : null;
  }
  return float32Values(backend, t);
}
