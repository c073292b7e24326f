import * as tf from '@tensorflow/tfjs';

/**
 * col [B, N, 1] -> [B, N, width]: each row's value repeated across `width` columns.
 *
 * Why not let tfjs broadcast: tfjs-cpu broadcasts a binary op on its fast path only when the
 * smaller operand's shape is a trailing suffix of the result's; a per-row column ([B,N,1]
 * against [B,N,M]) instead goes through per-element index arithmetic, about 6x slower than the
 * QKᵀ matMul it follows at headDim 32. A rank-1 matMul col·1ᵀ is exact (x·1, ±inf included)
 * and keeps the following element-wise op on the fast path.
 */
export function broadcastRows(col: tf.Tensor, width: number): tf.Tensor3D {
  return tf.tidy(() => tf.matMul(col, tf.ones([1, 1, width])) as tf.Tensor3D);
}
