import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from '@ringtrain/core';
import { errorStats, nativeElementwise, type NativeElementwise } from '@ringtrain/kernels';
import { tanhF32 } from './elementwise-js';
import { crossEntropyFused, embedRows, geluRows, geluRowsGrad, rmsNormFused, useNativeElementwise } from './fused';
import { crossEntropySum, geluTanhOps, rmsNorm } from './layers';

/** Each fused op against its plain-ops form: value and every input's gradient (tf.grads with a random dy). */

const rng = new SeededRandom(11);
const randn = (shape: number[], std = 1) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), std), shape);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, rel: number): void {
  expect(actual.shape).toEqual(expected.shape);
  const e = errorStats(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array);
  expect(e.nan).toBe(0);
  expect(e.rel).toBeLessThanOrEqual(rel);
}

/** value and grads of f and g at xs against the same upstream gradient dy. */
function compare(fused: (...xs: tf.Tensor[]) => tf.Tensor, plain: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], rel: number): void {
  tf.tidy(() => {
    const dy = randn(plain(...xs).shape);
    expectClose(fused(...xs), plain(...xs), rel);
    const gf = tf.grads(fused)(xs, dy);
    const gp = tf.grads(plain)(xs, dy);
    gf.forEach((g, i) => expectClose(g, gp[i], rel));
  });
}

// GELU and RMSNorm run natively under the `native` backend and in JS otherwise: both are checked.
const native = nativeElementwise();
const implementations: Array<[string, NativeElementwise | null]> = [['js', null], ...(native ? [['native', native] as [string, NativeElementwise]] : [])];

describe.each(implementations)('GELU and RMSNorm (%s) match their plain tfjs forms', (_name, ops) => {
  beforeAll(() => useNativeElementwise(ops));
  afterAll(() => useNativeElementwise(null));

  it.each([[7, 5], [1, 3], [13, 64], [3, 37]])('rmsNormFused [%i, %i]: value, dx and dgain', (n, d) => {
    const x = randn([n, d], 2);
    const g = tf.add(randn([d], 0.3), 1);
    compare((a, b) => rmsNormFused(a, b, 1e-5), (a, b) => rmsNorm(a, b, 1e-5), [x, g], 1e-5);
    // A row of zeros: r = 1/sqrt(eps), finite gradients.
    compare((a, b) => rmsNormFused(a, b, 1e-5), (a, b) => rmsNorm(a, b, 1e-5), [tf.zeros([2, d]), g], 1e-5);
  });

  it('rmsNormFused over many rows: dgain sums them without drift', () => {
    compare((a, b) => rmsNormFused(a, b, 1e-5), (a, b) => rmsNorm(a, b, 1e-5), [randn([4099, 19]), tf.add(randn([19], 0.3), 1)], 1e-5);
  });

  it('GELU [3, 11] and [37] across the tails: value and dx', () => {
    // The ops layer-segments.ts runs, as one customGrad op, against the plain form.
    const gelu = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const x = args[0] as tf.Tensor;
      return { value: geluRows(x), gradFunc: (dy: tf.Tensor) => geluRowsGrad(x, dy) };
    }) as (x: tf.Tensor) => tf.Tensor;
    compare(gelu, geluTanhOps, [randn([3, 11], 4)], 1e-5);
    compare(gelu, geluTanhOps, [randn([37], 1)], 1e-5);
    compare(gelu, geluTanhOps, [tf.tensor([-100, -30, -9, -5, -3, -0.5, -1e-6, 0, 1e-6, 0.5, 3, 5, 9, 30, 100, -4.7, 4.7])], 1e-5);
  });
});

describe('fused ops match their plain tfjs forms', () => {
  it('tanhF32 (the JS GELU\'s tanh) stays within 3e-8 of Math.tanh, and 1 − |tanh| within 1e-6 of it relatively in the tails', () => {
    let worst = 0;
    for (let u = -12; u <= 12; u += 1e-3) worst = Math.max(worst, Math.abs(tanhF32(u) - Math.tanh(u)));
    expect(worst).toBeLessThan(3e-8);
    for (const u of [7.95, 9, 10]) expect(Math.abs((1 - tanhF32(u)) / (1 - Math.tanh(u)) - 1)).toBeLessThan(1e-6);
    expect(tanhF32(-400)).toBe(-1);
  });

  it('crossEntropyFused [9, 13] with masked targets: loss and dlogits', () => {
    const V = 13;
    const targets = Int32Array.from([3, -1, 0, 12, -1, 5, 5, -1, 7]);
    const globalTokens = 17; // this shard's share of a larger batch
    const oneHot = tf.oneHot(tf.tensor1d(Int32Array.from(targets, (t) => Math.max(t, 0)), 'int32'), V).toFloat();
    const mask = tf.tensor1d(Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0)));
    const logits = randn([targets.length, V], 3);
    compare((z) => crossEntropyFused(z as tf.Tensor2D, targets, globalTokens), (z) => crossEntropySum(z, oneHot, mask, globalTokens), [logits], 1e-5);
    // All rows masked: zero loss, zero gradient.
    const none = new Int32Array(targets.length).fill(-1);
    const g = tf.grad((z: tf.Tensor) => crossEntropyFused(z as tf.Tensor2D, none, 1))(logits);
    expect(crossEntropyFused(logits as tf.Tensor2D, none, 1).dataSync()[0]).toBe(0);
    expect(Math.max(...(g.dataSync() as Float32Array).map(Math.abs))).toBe(0);
  });

  it('crossEntropyFused refuses a target outside the vocabulary', () => {
    expect(() => crossEntropyFused(tf.zeros([2, 4]) as tf.Tensor2D, Int32Array.from([1, 4]), 2)).toThrow(/outside \[-1, 4\)/);
  });

  it('embedRows [V 7, d 3] with repeated tokens: rows and the scatter-added dE', () => {
    const tokens = Int32Array.from([2, 0, 6, 2, 2, 5]);
    const idx = tf.tensor1d(tokens, 'int32');
    compare((E) => embedRows(E as tf.Tensor2D, tokens), (E) => tf.gather(E, idx), [randn([7, 3])], 1e-6);
    expect(() => embedRows(tf.zeros([7, 3]) as tf.Tensor2D, Int32Array.from([7]))).toThrow(/outside \[0, 7\)/);
  });
});
