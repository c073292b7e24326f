import * as tf from '@tensorflow/tfjs';

/**
 * Between the global sequence-major layout (CLI, .npy dumps, reference: [S, H, D] and [S, H])
 * and the head-major tensors the kernels use ([H, S, D] and [H, S]). Head-major keeps each
 * head's rows contiguous, which is what batched matMul over heads wants.
 *
 * Each function copies once in plain JS and never disposes its input; the tensor it returns is
 * owned by the caller.
 */
export function toHeadMajor(data: Float32Array, seq: number, heads: number, headDim: number): tf.Tensor3D {
  return tf.tensor3d(swapLeadingAxes(data, seq, heads, headDim), [heads, seq, headDim]);
}

/** [H, S, D] tensor -> [S, H, D] array (synchronous read). */
export function fromHeadMajor(t: tf.Tensor3D): Float32Array {
  const [heads, seq, headDim] = t.shape;
  return swapLeadingAxes(t.dataSync() as Float32Array, heads, seq, headDim);
}

/** [S, H] array (e.g. lse) -> [H, S] tensor. */
export function toHeadMajor2D(data: Float32Array, seq: number, heads: number): tf.Tensor2D {
  return tf.tensor2d(swapLeadingAxes(data, seq, heads, 1), [heads, seq]);
}

/** [H, S] tensor -> [S, H] array (synchronous read). */
export function fromHeadMajor2D(t: tf.Tensor2D): Float32Array {
  const [heads, seq] = t.shape;
  return swapLeadingAxes(t.dataSync() as Float32Array, heads, seq, 1);
}

/** fromHeadMajor as an asynchronous read: what GPU backends allow (their dataSync fails in Node). */
export async function readHeadMajor(t: tf.Tensor3D): Promise<Float32Array> {
  const [heads, seq, headDim] = t.shape;
  return swapLeadingAxes((await t.data()) as Float32Array, heads, seq, headDim);
}

/** fromHeadMajor2D as an asynchronous read. */
export async function readHeadMajor2D(t: tf.Tensor2D): Promise<Float32Array> {
  const [heads, seq] = t.shape;
  return swapLeadingAxes((await t.data()) as Float32Array, heads, seq, 1);
}

/** [A, B, C] -> [B, A, C], always into a new array (never aliases tfjs's backing store). */
function swapLeadingAxes(src: Float32Array, a: number, b: number, c: number): Float32Array {
  if (src.length !== a * b * c) {
    throw new Error(`layout conversion: ${src.length} values do not fill [${a}, ${b}, ${c}]`);
  }
  const dst = new Float32Array(src.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const from = (i * b + j) * c;
      const to = (j * a + i) * c;
      for (let x = 0; x < c; x++) dst[to + x] = src[from + x];
    }
  }
  return dst;
}
