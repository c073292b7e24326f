import type { NativeElementwise } from '@ringtrain/kernels';
import { GELU_A, GELU_C } from './layers';

/**
 * GELU and RMSNorm forward/backward over Float32Arrays in plain JS: the path beside the native
 * one (kernels/native/src/elementwise.cc), with the same contract, used when the addon is not
 * loaded or the backend is not `native`. fused.ts wraps whichever is in force as tfjs ops.
 */
export const jsElementwise: NativeElementwise = {
  /** y = ½x(1 + t), t = tanh(c(x + a·x³)). */
  geluForward(x, y) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = 0.5 * v * (1 + tanhF32(GELU_C * (v + GELU_A * v * v * v)));
    }
  },
  /** dx = dy·(½(1 + t) + ½x(1 − t²)·c(1 + 3a·x²)). */
  geluBackward(x, dy, dx) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      const t = tanhF32(GELU_C * (v + GELU_A * v * v * v));
      dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * v * v));
    }
  },
  /** Per row of d = g.length: r = 1/sqrt(mean(x²) + eps), y = x·r·g, inv[row] = r. */
  rmsNormForward(x, g, eps, y, inv) {
    const d = g.length;
    for (let o = 0, row = 0; o < x.length; o += d, row++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[o + j] * x[o + j];
      const r = 1 / Math.sqrt(s / d + eps);
      inv[row] = r;
      for (let j = 0; j < d; j++) y[o + j] = x[o + j] * r * g[j];
    }
  },
  /** Per row: dx = r·(g·dy − x·r²·mean(x·g·dy)); dg = Σ_rows dy·x·r (written, not added). */
  rmsNormBackward(x, g, inv, dy, dx, dg) {
    const d = g.length;
    const acc = new Float64Array(d);
    for (let o = 0, row = 0; o < x.length; o += d, row++) {
      const r = inv[row];
      let dot = 0;
      for (let j = 0; j < d; j++) dot += x[o + j] * g[j] * dy[o + j];
      const c = (r * r * dot) / d;
      for (let j = 0; j < d; j++) {
        dx[o + j] = r * (g[j] * dy[o + j] - x[o + j] * c);
        acc[j] += dy[o + j] * x[o + j] * r;
      }
    }
    dg.set(acc);
  },
};

const TANH_CLAMP = 7.90531110763549805;

/**
 * tanh for float32 results: Eigen's (TensorFlow's CPU) rational 13/6 approximation, within
 * 3e-8 of Math.tanh on |u| ≤ 7.9; beyond, where 1 − |t| < 4e-7 matters to GELU's tails (it is
 * scaled by x³ in the derivative), from exp. Math.tanh is a C call V8 does not inline, ~3× slower.
 */
export function tanhF32(u: number): number {
  if (u > TANH_CLAMP || u < -TANH_CLAMP) {
    const e = Math.exp(-2 * Math.abs(u));
    const t = (1 - e) / (1 + e);
    return u < 0 ? -t : t;
  }
  const x2 = u * u;
  const p = u * (4.89352455891786e-3 + x2 * (6.37261928875436e-4 + x2 * (1.48572235717979e-5 + x2 * (5.12229709037114e-8 + x2 * (-8.60467152213735e-11 + x2 * (2.00018790482477e-13 + x2 * -2.76076847742355e-16))))));
  const q = 4.89352518554385e-3 + x2 * (2.268434632439e-3 + x2 * (1.18534705686654e-4 + x2 * 1.19825839466702e-6));
  return p / q;
}
