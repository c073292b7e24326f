import * as tf from '@tensorflow/tfjs';

/** Token-local building blocks of the reference model; all synchronous, differentiable tfjs. */

/** RMSNorm over the last dim with a learned gain: x / sqrt(mean(x²) + eps) · g. */
export function rmsNorm(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor2D {
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
  return tf.mul(tf.mul(x, inv), gain) as tf.Tensor2D;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** GELU, tanh approximation, as plain tfjs ops (the oracle's form). */
export function geluTanhOps(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(x, tf.mul(x, x)), GELU_A)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * GELU (tanh approximation) fused into one pass forward and one pass backward. As separate tfjs
 * ops it was ~8 elementwise passes over the [N, 4d] MLP activation forward and ~20 with its
 * gradient, the largest cost of a training step on CPU. Checked against geluTanhOps by the
 * whole-model gradient test.
 *   y  = ½x(1 + t),  t = tanh(c(x + a·x³))
 *   y' = ½(1 + t) + ½x(1 − t²)·c(1 + 3a·x²)
 */
export const geluTanh = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  const xv = x.dataSync() as Float32Array;
  const out = new Float32Array(xv.length);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    out[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + GELU_A * v * v * v)));
  }
  save([x]);
  return {
    value: tf.tensor(out, x.shape),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const xs = saved[0].dataSync() as Float32Array;
      const dyv = (dy as tf.Tensor).dataSync() as Float32Array;
      const dx = new Float32Array(xs.length);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        const t = Math.tanh(GELU_C * (v + GELU_A * v * v * v));
        dx[i] = dyv[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * v * v));
      }
      return tf.tensor(dx, saved[0].shape);
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * Rotary position tables for the tokens' global positions: cos/sin [N, 1, headDim/2]
 * (broadcast over heads). Positions are global whatever the layout, so shards agree.
 */
export function ropeTables(positions: Int32Array, headDim: number, base: number): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const half = headDim / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let i = 0; i < positions.length; i++) {
    for (let j = 0; j < half; j++) {
      const angle = positions[i] * Math.pow(base, (-2 * j) / headDim);
      cos[i * half + j] = Math.cos(angle);
      sin[i * half + j] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor3d(cos, [positions.length, 1, half]), sin: tf.tensor3d(sin, [positions.length, 1, half]) };
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
