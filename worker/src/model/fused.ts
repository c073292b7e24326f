import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import type { NativeElementwise } from '@ringtrain/kernels';
import { jsElementwise } from './elementwise-js';

/**
 * Token-local ops of the reference model fused into one pass forward and one backward
 * (over Float32Arrays; RMSNorm and GELU run in the native addon when the backend is `native`,
 * else in JS). As separate tfjs ops each was several elementwise passes plus autodiff's own (broadcast reductions, transposes inside Sum): the bulk of a training step on
 * CPU. Each is pinned by fused.test.ts against its plain-ops form in layers.ts, which the
 * whole-model oracle (reference-model.ts) keeps using. These are the host forms, for the CPU
 * backends; device-ops.ts has the same ops as tfjs ops alone (ops-mode.ts picks).
 *
 * Values derived in forward that backward needs (RMSNorm's 1/rms, log-sum-exp) are held by the
 * gradFunc's closure as plain arrays: outside a gradient tape the closure is dropped with them.
 */

type Args = Array<tf.Tensor | tf.GradSaveFunc>;
const f32 = (t: tf.Tensor) => t.dataSync() as Float32Array;

let elementwise: NativeElementwise = jsElementwise;

/**
 * Where GELU and RMSNorm run: the native addon's ops (the `native` backend passes them), or the
 * JS ones (null, the default).
 */
export function useNativeElementwise(ops: NativeElementwise | null): void {
  elementwise = ops ?? jsElementwise;
}

/**
 * RMSNorm over the last dim with a learned gain, y = x·r·g with r = 1/sqrt(mean(x²) + eps) per
 * row; also returns r, which backward needs. One pass, no tape (layer-segments.ts, rmsNormFused).
 */
export function rmsNormRows(x: tf.Tensor, g: tf.Tensor, eps: number, ops: NativeElementwise = elementwise): { y: tf.Tensor; inv: Float32Array } {
  const xv = f32(x);
  const y = new Float32Array(xv.length);
  const inv = new Float32Array(xv.length / g.size);
  ops.rmsNormForward(xv, f32(g), eps, y, inv);
  return { y: tf.tensor(y, x.shape), inv };
}

/**
 * dx and dg of rmsNormRows given dy and its r. Per row: dx = r·(g·dy − x·r²·mean(x·g·dy));
 * dg = Σ_rows dy·x·r.
 */
export function rmsNormRowsGrad(x: tf.Tensor, g: tf.Tensor, inv: Float32Array, dy: tf.Tensor, ops: NativeElementwise = elementwise): { dx: tf.Tensor; dg: tf.Tensor } {
  const dx = new Float32Array(x.size);
  const dg = new Float32Array(g.size);
  ops.rmsNormBackward(f32(x), f32(g), inv, f32(dy), dx, dg);
  return { dx: tf.tensor(dx, x.shape), dg: tf.tensor(dg, g.shape) };
}

/** GELU, tanh approximation, y = ½x(1 + tanh(c(x + a·x³))), elementwise. */
export function geluRows(x: tf.Tensor): tf.Tensor {
  const y = new Float32Array(x.size);
  elementwise.geluForward(f32(x), y);
  return tf.tensor(y, x.shape);
}

/** dx = dy · gelu'(x), recomputed from x. */
export function geluRowsGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const dx = new Float32Array(x.size);
  elementwise.geluBackward(f32(x), f32(dy), dx);
  return tf.tensor(dx, x.shape);
}

/** rmsNormRows as a differentiable op (for the parts still differentiated by tf.grads). */
export function rmsNormFused(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor2D {
  return rmsNormOp(eps)(x, gain) as tf.Tensor2D;
}

const rmsNormOps = new Map<number, (x: tf.Tensor, g: tf.Tensor) => tf.Tensor>();

function rmsNormOp(eps: number): (x: tf.Tensor, g: tf.Tensor) => tf.Tensor {
  const cached = rmsNormOps.get(eps);
  if (cached) return cached;
  const op = tf.customGrad((...args: Args) => {
    const [x, g, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const ops = elementwise; // backward runs on the same implementation as forward
    const { y, inv } = rmsNormRows(x, g, eps, ops);
    save([x, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const { dx, dg } = rmsNormRowsGrad(saved[0], saved[1], inv, dy, ops);
        return [dx, dg];
      },
    };
  }) as (x: tf.Tensor, g: tf.Tensor) => tf.Tensor;
  rmsNormOps.set(eps, op);
  return op;
}

/**
 * Embedding lookup E[tokens] [N, d]; backward scatter-adds dy's rows into dE [V, d]. (tf.gather's
 * CPU kernel maps every element's index through its shape, ~10× slower than copying rows.)
 * With `noneAllowed`, id -1 reads as a zero row (the previous token of a sequence's first position).
 */
export function embedRows(E: tf.Tensor2D, tokens: Int32Array, noneAllowed = false): tf.Tensor2D {
  const [V, d] = E.shape;
  checkIds('token', tokens, noneAllowed ? -1 : 0, V);
  const op = tf.customGrad((...args: Args) => {
    const ev = f32(args[0] as tf.Tensor);
    const out = new Float32Array(tokens.length * d);
    tokens.forEach((t, i) => {
      if (t >= 0) out.set(ev.subarray(t * d, t * d + d), i * d);
    });
    return {
      value: tf.tensor2d(out, [tokens.length, d]),
      gradFunc: (dy: tf.Tensor) => {
        const dyv = f32(dy);
        const dE = new Float32Array(V * d);
        tokens.forEach((t, i) => {
          if (t < 0) return;
          for (let j = 0; j < d; j++) dE[t * d + j] += dyv[i * d + j];
        });
        return tf.tensor2d(dE, [V, d]);
      },
    };
  });
  return op(E) as tf.Tensor2D;
}

/**
 * Summed cross-entropy of logits [N, V] against int targets (-1 = no loss), divided by
 * `globalTokens` so that the sum over ranks is the batch mean loss. Backward:
 * dlogits = dy·(softmax − onehot)/globalTokens on rows with a target, 0 elsewhere.
 * No one-hot tensor: the targets are read directly.
 */
export function crossEntropyFused(logits: tf.Tensor2D, targets: Int32Array, globalTokens: number): tf.Scalar {
  const [N, V] = logits.shape;
  checkTargets('crossEntropyFused', targets, N, V);
  const op = tf.customGrad((...args: Args) => {
    const [z, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const zv = f32(z);
    const lse = new Float64Array(N);
    let loss = 0;
    for (let i = 0; i < N; i++) {
      const t = targets[i];
      if (t < 0) continue;
      const o = i * V;
      lse[i] = rowLogSumExp(zv, o, V);
      loss += lse[i] - zv[o + t];
    }
    save([z]);
    return {
      value: tf.scalar(loss / globalTokens),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const zs = f32(saved[0]);
        const scale = f32(dy)[0] / globalTokens;
        const dz = new Float32Array(zs.length);
        for (let i = 0; i < N; i++) {
          const t = targets[i];
          if (t < 0) continue;
          const o = i * V;
          for (let j = 0; j < V; j++) dz[o + j] = scale * Math.exp(zs[o + j] - lse[i]);
          dz[o + t] -= scale;
        }
        return tf.tensor(dz, saved[0].shape);
      },
    };
  });
  return op(logits) as tf.Scalar;
}

function rowLogSumExp(z: Float32Array, o: number, V: number): number {
  let m = -Infinity;
  for (let j = 0; j < V; j++) if (z[o + j] > m) m = z[o + j];
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(z[o + j] - m);
  return m + Math.log(s);
}

/** One target per row of logits [N, V], each in [-1, V). */
export function checkTargets(op: string, targets: Int32Array, rows: number, vocab: number): void {
  if (targets.length !== rows) throw new RingtrainError('BAD_SHAPE', `${op}: ${targets.length} targets for ${rows} rows of logits`);
  checkIds('target', targets, -1, vocab);
}

/** Every id in [lo, vocab): an id outside would read another row (or past the end). */
export function checkIds(what: string, ids: Int32Array, lo: number, vocab: number): void {
  for (const id of ids) {
    if (!(id >= lo && id < vocab)) {
      throw new RingtrainError('BAD_TOKEN', `${what} id ${id} is outside [${lo}, ${vocab})`, { hint: 'the data\'s tokenizer must match the model\'s vocabSize' });
    }
  }
}
