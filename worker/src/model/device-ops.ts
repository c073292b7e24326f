import * as tf from '@tensorflow/tfjs';
import { checkIds, checkTargets } from './fused';
import { GELU_A, GELU_C, geluTanhOps } from './layers';

/**
 * The token-local ops of fused.ts (RMSNorm, GELU, embedding lookup, cross-entropy) written
 * only as tfjs ops, for backends whose tensors live on an accelerator (webgpu): there a read is
 * a round trip that must be awaited, so nothing here reads a tensor's values. Same math and
 * same contracts as the host forms, each of which it is tested against (device-ops.test.ts);
 * ops-mode.ts picks between the two.
 *
 * Token ids and targets arrive as host Int32Arrays and are uploaded as int32 index tensors.
 * Values forward derives and backward needs (RMSNorm's 1/rms, the log-sum-exp) are tensors
 * kept by customGrad's `save`, not closures over arrays.
 */

type Args = Array<tf.Tensor | tf.GradSaveFunc>;

/**
 * RMSNorm rows with gain: y = x·r·g, r = 1/sqrt(mean(x²) + eps) per row, returned as [N, 1]
 * for backward (rmsNormRows, with r as a tensor).
 */
export function rmsNormRowsDevice(x: tf.Tensor2D, g: tf.Tensor1D, eps: number): { y: tf.Tensor2D; inv: tf.Tensor2D } {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)) as tf.Tensor2D;
    return { y: tf.mul(tf.mul(x, inv), g) as tf.Tensor2D, inv };
  });
}

/** rmsNormRowsGrad with r a tensor: dx = r·(g·dy − x·r²·mean(x·g·dy)) per row; dg = Σ_rows dy·x·r. */
export function rmsNormRowsGradDevice(x: tf.Tensor2D, g: tf.Tensor1D, inv: tf.Tensor2D, dy: tf.Tensor2D): { dx: tf.Tensor2D; dg: tf.Tensor1D } {
  return tf.tidy(() => {
    const gdy = tf.mul(g, dy);
    const c = tf.mul(tf.square(inv), tf.mean(tf.mul(x, gdy), -1, true));
    const dx = tf.mul(inv, tf.sub(gdy, tf.mul(x, c))) as tf.Tensor2D;
    const dg = tf.sum(tf.mul(dy, tf.mul(x, inv)), 0) as tf.Tensor1D;
    return { dx, dg };
  });
}

/** rmsNormRowsDevice as a differentiable op (rmsNormFused's device form, for tf.grads). */
export function rmsNormDevice(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor2D {
  return rmsNormOp(eps)(x, gain) as tf.Tensor2D;
}

const rmsNormOps = new Map<number, (x: tf.Tensor, g: tf.Tensor) => tf.Tensor>();

function rmsNormOp(eps: number): (x: tf.Tensor, g: tf.Tensor) => tf.Tensor {
  const cached = rmsNormOps.get(eps);
  if (cached) return cached;
  const op = tf.customGrad((...args: Args) => {
    const [x, g, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const { y, inv } = rmsNormRowsDevice(x, g, eps);
    save([x, g, inv]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, invs] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
        const { dx, dg } = rmsNormRowsGradDevice(xs, gs, invs, dy as tf.Tensor2D);
        return [dx, dg];
      },
    };
  }) as (x: tf.Tensor, g: tf.Tensor) => tf.Tensor;
  rmsNormOps.set(eps, op);
  return op;
}

/** GELU (tanh form) forward: the plain-ops form of layers.ts is already device-resident. */
export const geluDevice = (x: tf.Tensor2D): tf.Tensor2D => geluTanhOps(x) as tf.Tensor2D;

/** dx = dy·(½(1 + t) + ½x(1 − t²)·c(1 + 3a·x²)), t = tanh(c(x + a·x³)) (geluRowsGrad's math). */
export function geluGradDevice(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const x2 = tf.square(x);
    const t = tf.tanh(tf.mul(tf.mul(x, tf.add(tf.mul(x2, GELU_A), 1)), GELU_C));
    const slope = tf.mul(tf.mul(tf.mul(x, tf.sub(1, tf.square(t))), 0.5 * GELU_C), tf.add(tf.mul(x2, 3 * GELU_A), 1));
    return tf.mul(dy, tf.add(tf.mul(tf.add(t, 1), 0.5), slope)) as tf.Tensor2D;
  });
}

/**
 * Embedding lookup E[tokens] [N, d] (embedRows' device form): a gather; backward scatter-adds
 * dy's rows into dE [V, d] with unsortedSegmentSum. With `noneAllowed`, id -1 reads as a zero
 * row: it gathers row 0 and is masked to zero both ways (no negative index reaches a kernel).
 */
export function embedRowsDevice(E: tf.Tensor2D, tokens: Int32Array, noneAllowed = false): tf.Tensor2D {
  const V = E.shape[0];
  checkIds('token', tokens, noneAllowed ? -1 : 0, V);
  const masked = tokens.some((t) => t < 0);
  const ids = () => tf.tensor1d(masked ? tokens.map((t) => Math.max(t, 0)) : tokens, 'int32');
  const keep = (rows: tf.Tensor) => (masked ? tf.mul(rows, tf.tensor2d(Float32Array.from(tokens, (t) => (t >= 0 ? 1 : 0)), [tokens.length, 1])) : rows);
  const op = tf.customGrad((...args: Args) => ({
    value: keep(tf.gather(args[0] as tf.Tensor, ids())),
    gradFunc: (dy: tf.Tensor) => tf.unsortedSegmentSum(keep(dy), ids(), V),
  }));
  return op(E) as tf.Tensor2D;
}

/**
 * crossEntropyFused's device form: Σ over rows with a target of (lse − logit of the target),
 * divided by `globalTokens`; rows with target -1 are masked out by a 0/1 weight. The picked
 * logits are one gather from the flattened logits. Backward:
 * dlogits = dy·(softmax − onehot)·mask/globalTokens, softmax from the saved lse.
 */
export function crossEntropyDevice(logits: tf.Tensor2D, targets: Int32Array, globalTokens: number): tf.Scalar {
  const [N, V] = logits.shape;
  checkTargets('crossEntropyDevice', targets, N, V);
  const ids = targets.map((t) => Math.max(t, 0)); // masked rows pick column 0, weighted 0
  const mask = () => tf.tensor1d(Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0)));
  const op = tf.customGrad((...args: Args) => {
    const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const lse = tf.logSumExp(z, 1);
    const picked = tf.gather(tf.reshape(z, [N * V]), tf.tensor1d(ids.map((t, i) => i * V + t), 'int32'));
    save([z, lse]);
    return {
      value: tf.div(tf.sum(tf.mul(tf.sub(lse, picked), mask())), globalTokens) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, lses] = saved;
        const softmax = tf.exp(tf.sub(zs, tf.expandDims(lses, 1)));
        const onehot = tf.oneHot(tf.tensor1d(ids, 'int32'), V, 1, 0, 'float32');
        const scale = tf.expandDims(tf.mul(mask(), tf.div(dy, globalTokens)), 1);
        return tf.mul(tf.sub(softmax, onehot), scale);
      },
    };
  });
  return op(logits) as tf.Scalar;
}
