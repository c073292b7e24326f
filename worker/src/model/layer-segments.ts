import * as tf from '@tensorflow/tfjs';
import { geluDevice, geluGradDevice, rmsNormRowsDevice, rmsNormRowsGradDevice } from './device-ops';
import { geluRows, geluRowsGrad, rmsNormRows, rmsNormRowsGrad } from './fused';
import { deviceOpsOn } from './ops-mode';

/**
 * The two local segments of a transformer layer with hand-written backward, so backward reuses
 * what forward computed instead of recomputing the segment under a gradient tape (which re-ran
 * every matmul of the layer once more per step). Matmuls go through tf.matMul (the native gemm
 * under the `native` backend); RMSNorm and GELU through the same elementwise ops as fused.ts,
 * or their device forms (device-ops.ts) when ops-mode.ts says so.
 *
 *   pre:  n1 = rms(x)·g1;  qkv = n1·Wqkv                         (Wqkv = [Wq | Wk | Wv])
 *   post: x1 = x + o·Wo;  n2 = rms(x1)·g2;  u = n2·W1;  y = x1 + gelu(u)·W2
 *
 * Backward keeps x1 and u from forward (the only values a matmul made); n1, n2 and gelu(u) are
 * elementwise and are recomputed. Pinned against tf.grads of the plain forms by
 * layer-segments.test.ts, and the whole step against the whole-model oracle by model-step.test.ts.
 */

export interface PreWeights {
  g1: tf.Tensor1D;
  /** [d, (H + 2·Hkv)·Dh]: Wq, Wk, Wv side by side. */
  wqkv: tf.Tensor2D;
}

export interface PostWeights {
  wo: tf.Tensor2D;
  g2: tf.Tensor1D;
  w1: tf.Tensor2D;
  w2: tf.Tensor2D;
}

/** What post-attention backward needs from its forward; dispose after backward. */
export interface PostSaved {
  x1: tf.Tensor2D;
  u: tf.Tensor2D;
}

const mm = (a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false) => tf.matMul(a, b, transposeA, transposeB) as tf.Tensor2D;

/**
 * RMSNorm's per-row 1/rms, from forward to backward: read values (host form, fused.ts) or a
 * [N, 1] tensor (device form). Its form says which backward takes it, so the pair cannot mix.
 */
export type RowScale = Float32Array | tf.Tensor2D;

function rmsNorm(x: tf.Tensor2D, g: tf.Tensor1D, eps: number): { y: tf.Tensor2D; inv: RowScale } {
  if (deviceOpsOn()) return rmsNormRowsDevice(x, g, eps);
  const r = rmsNormRows(x, g, eps);
  return { y: r.y as tf.Tensor2D, inv: r.inv };
}

function rmsNormGrad(x: tf.Tensor2D, g: tf.Tensor1D, inv: RowScale, dy: tf.Tensor2D): { dx: tf.Tensor2D; dg: tf.Tensor1D } {
  if (!(inv instanceof Float32Array)) return rmsNormRowsGradDevice(x, g, inv, dy);
  const r = rmsNormRowsGrad(x, g, inv, dy);
  return { dx: r.dx as tf.Tensor2D, dg: r.dg as tf.Tensor1D };
}

const gelu = (u: tf.Tensor2D) => (deviceOpsOn() ? geluDevice(u) : (geluRows(u) as tf.Tensor2D));
const geluGrad = (u: tf.Tensor2D, dh: tf.Tensor2D) => (deviceOpsOn() ? geluGradDevice(u, dh) : (geluRowsGrad(u, dh) as tf.Tensor2D));

/** x [N, d] -> q|k|v rows [N, (H + 2·Hkv)·Dh]. */
export function preForward(x: tf.Tensor2D, w: PreWeights, eps: number): tf.Tensor2D {
  return tf.tidy(() => mm(rmsNorm(x, w.g1, eps).y, w.wqkv));
}

/** Given dqkv: dx [N, d], dg1 [d], dWqkv [d, (H + 2·Hkv)·Dh]. */
export function preBackward(x: tf.Tensor2D, w: PreWeights, eps: number, dqkv: tf.Tensor2D): { dx: tf.Tensor2D; dg1: tf.Tensor1D; dwqkv: tf.Tensor2D } {
  return tf.tidy(() => {
    const { y: n1, inv } = rmsNorm(x, w.g1, eps);
    const dwqkv = mm(n1, dqkv, true, false);
    const { dx, dg } = rmsNormGrad(x, w.g1, inv, mm(dqkv, w.wqkv, false, true));
    return { dx, dg1: dg, dwqkv };
  });
}

/** (x [N, d], attention output o [N, H·Dh]) -> y [N, d], and what backward needs. */
export function postForward(x: tf.Tensor2D, o: tf.Tensor2D, w: PostWeights, eps: number): { y: tf.Tensor2D; saved: PostSaved } {
  return tf.tidy(() => {
    const x1 = tf.add(x, mm(o, w.wo)) as tf.Tensor2D;
    const u = mm(rmsNorm(x1, w.g2, eps).y, w.w1);
    const y = tf.add(x1, mm(gelu(u), w.w2)) as tf.Tensor2D;
    return { y, saved: { x1, u } };
  });
}

/** Given dy: dx, do and the weights' gradients. Does not dispose `saved`. */
export function postBackward(
  o: tf.Tensor2D,
  w: PostWeights,
  eps: number,
  saved: PostSaved,
  dy: tf.Tensor2D,
): { dx: tf.Tensor2D; dO: tf.Tensor2D; dwo: tf.Tensor2D; dg2: tf.Tensor1D; dw1: tf.Tensor2D; dw2: tf.Tensor2D } {
  return tf.tidy(() => {
    const { x1, u } = saved;
    const dw2 = mm(gelu(u), dy, true, false);
    const du = geluGrad(u, mm(dy, w.w2, false, true));
    const { y: n2, inv } = rmsNorm(x1, w.g2, eps);
    const dw1 = mm(n2, du, true, false);
    const { dx: dx1n, dg } = rmsNormGrad(x1, w.g2, inv, mm(du, w.w1, false, true));
    const dx1 = tf.add(dy, dx1n) as tf.Tensor2D;
    const dwo = mm(o, dx1, true, false);
    const dO = mm(dx1, w.wo, false, true);
    return { dx: dx1, dO, dwo, dg2: dg, dw1, dw2 };
  });
}

/** Wq, Wk, Wv [d, ·] side by side as one [d, qDim + 2·kvDim] matrix. */
export function concatColumns(d: number, parts: readonly Float32Array[]): tf.Tensor2D {
  const widths = parts.map((p) => p.length / d);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(d * total);
  for (let r = 0; r < d; r++) {
    let col = 0;
    parts.forEach((p, i) => {
      out.set(p.subarray(r * widths[i], (r + 1) * widths[i]), r * total + col);
      col += widths[i];
    });
  }
  return tf.tensor2d(out, [d, total]);
}

/**
 * The inverse of concatColumns on a gradient already read back: the values of a [d, Σ widths]
 * matrix -> one array per part (the device form splits the tensor: step-ops.ts).
 */
export function splitColumns(v: Float32Array, d: number, widths: readonly number[]): Float32Array[] {
  const total = widths.reduce((a, b) => a + b, 0);
  const parts = widths.map((w) => new Float32Array(d * w));
  for (let r = 0; r < d; r++) {
    let col = 0;
    widths.forEach((w, i) => {
      parts[i].set(v.subarray(r * total + col, r * total + col + w), r * w);
      col += w;
    });
  }
  return parts;
}
