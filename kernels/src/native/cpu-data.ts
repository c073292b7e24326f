import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';

/**
 * The slice of tfjs's CPU backend (MathBackendCPU) the native kernels use: its storage map, whose
 * float32 entries hold the tensor's Float32Array itself, so reading it copies nothing.
 */
export interface CpuBackendLike {
  data: { get(dataId: tf.DataId): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
  disposeIntermediateTensorInfo(t: tf.TensorInfo): void;
}

function isFloat32Array(x: unknown): x is Float32Array {
  // Not `instanceof`: under jest, tfjs and this module may see different realms' constructors.
  return Object.prototype.toString.call(x) === '[object Float32Array]';
}

/** The stored values of a float32 tensor on the CPU backend, without a copy; null otherwise. */
export function float32Values(backend: CpuBackendLike, t: tf.TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId)?.values;
  return isFloat32Array(values) ? values : null;
}

/**
 * The active CPU backend, or a NATIVE_BACKEND error: the native kernels read and write the CPU
 * backend's arrays in place, so they cannot serve tensors held by webgl or tfjs-node.
 */
export function activeCpuBackend(): CpuBackendLike {
  const name = tf.getBackend();
  if (name !== 'cpu') {
    throw new RingtrainError('NATIVE_BACKEND', `the native kernels need the tfjs 'cpu' backend, but '${name}' is active`, {
      hint: 'Call ensureCpuBackend() first, or use tfjsKernel with other backends.',
      details: { backend: name },
    });
  }
  return tf.backend() as unknown as CpuBackendLike;
}

/** A tensor's float32 values on the active CPU backend (moved there by tfjs if needed), no copy. */
export function tensorValues(backend: CpuBackendLike, t: tf.Tensor, name: string): Float32Array {
  const values = float32Values(backend, t);
  if (values === null) {
    throw new RingtrainError('KERNEL_DTYPE', `native attention: ${name} must be a float32 tensor, got ${t.dtype}`, {
      hint: 'Cast to float32 before calling the kernel.',
      details: { tensor: name, dtype: t.dtype, shape: t.shape },
    });
  }
  return values;
}
