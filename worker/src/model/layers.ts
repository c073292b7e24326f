import * as tf from '@tensorflow/tfjs';
import { ropeTable } from './heads';

/**
 * Token-local building blocks of the reference model as plain tfjs ops, differentiated by
 * autodiff: the forms the whole-model oracle (reference-model.ts) uses, and the references the
 * fused forms the training step uses (fused.ts, heads.ts) are tested against.
 */

/** RMSNorm over the last dim with a learned gain: x / sqrt(mean(x²) + eps) · g (fused: rmsNormFused). */
export function rmsNorm(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor2D {
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
  return tf.mul(tf.mul(x, inv), gain) as tf.Tensor2D;
}

export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

/** GELU, tanh approximation, as plain tfjs ops (the oracle's form; the training step's: layer-segments.ts). */
export function geluTanhOps(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(x, tf.mul(x, x)), GELU_A)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * Rotary position tables for the tokens' global positions: cos/sin [N, 1, headDim/2]
 * (broadcast over heads). Positions are global whatever the layout, so shards agree.
 */
export function ropeTables(positions: Int32Array, headDim: number, base: number): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const { cos, sin } = ropeTable(positions, headDim, base);
  const shape: [number, number, number] = [positions.length, 1, headDim / 2];
  return { cos: tf.tensor3d(cos, shape), sin: tf.tensor3d(sin, shape) };
}

/** Rotate-half (GPT-NeoX) RoPE on x [N, heads, headDim]. */
export function applyRope(x: tf.Tensor3D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor3D {
  const [x1, x2] = tf.split(x, 2, 2);
  return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 2) as tf.Tensor3D;
}

/**
 * Summed cross-entropy of the rows whose target is not -1, divided by `globalTokens` so that
 * the sum over ranks is the mean loss of the whole batch.
 */
export function crossEntropySum(logits: tf.Tensor, targetOneHot: tf.Tensor, mask: tf.Tensor, globalTokens: number): tf.Scalar {
  const lse = tf.logSumExp(logits, 1);
  const picked = tf.sum(tf.mul(logits, targetOneHot), 1);
  return tf.div(tf.sum(tf.mul(tf.sub(lse, picked), mask)), globalTokens) as tf.Scalar;
}
