import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from '@ringtrain/core';
import { errorStats } from '@ringtrain/kernels';
import { crossEntropyDevice, embedRowsDevice, geluDevice, geluGradDevice, rmsNormDevice, rmsNormRowsDevice, rmsNormRowsGradDevice } from './device-ops';
import { crossEntropyFused, embedRows, geluRows, geluRowsGrad, rmsNormFused, rmsNormRows, rmsNormRowsGrad } from './fused';
import { countSyncReads } from './testing/count-reads';

/**
 * Each device form against its host form (fused.ts), which fused.test.ts pins to the plain
 * tfjs forms: value and every input's gradient under tf.grads with the same random dy. The
 * device side runs with dataSync and arraySync watched: it must not read a tensor.
 */

const rng = new SeededRandom(23);
const randn = (shape: number[], std = 1) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), std), shape);

function expectClose(actual: tf.Tensor | Float32Array, expected: tf.Tensor | Float32Array, rel: number): void {
  const values = (t: tf.Tensor | Float32Array) => (t instanceof Float32Array ? t : (t.dataSync() as Float32Array));
  if (!(actual instanceof Float32Array) && !(expected instanceof Float32Array)) expect(actual.shape).toEqual(expected.shape);
  const e = errorStats(values(actual), values(expected));
  expect(e.nan).toBe(0);
  expect(e.rel).toBeLessThanOrEqual(rel);
}

/** Value and grads of the device and host forms at xs against the same dy; none read by the device form. */
function compare(device: (...xs: tf.Tensor[]) => tf.Tensor, host: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], rel: number): void {
  tf.tidy(() => {
    const want = host(...xs);
    const dy = randn(want.shape);
    const { result, reads } = countSyncReads(() => ({ value: device(...xs), grads: tf.grads(device)(xs, dy) }));
    expect(reads).toBe(0);
    expectClose(result.value, want, rel);
    tf.grads(host)(xs, dy).forEach((g, i) => expectClose(result.grads[i], g, rel));
  });
}

describe('device ops match their host forms', () => {
  it('the read counter sees a host form\'s reads (so a 0 below means none)', () => {
    tf.tidy(() => expect(countSyncReads(() => rmsNormRows(randn([2, 3]), tf.ones([3]), 1e-5)).reads).toBeGreaterThan(0));
  });

  it.each([[7, 5], [1, 3], [13, 64], [3, 37]])('RMSNorm rows [%i, %i]: y, 1/rms, dx, dg; the differentiable op under tf.grads', (n, d) => {
    tf.tidy(() => {
      const g = tf.add(randn([d], 0.3), 1) as tf.Tensor1D;
      for (const x of [randn([n, d], 2) as tf.Tensor2D, tf.zeros([2, d]) as tf.Tensor2D]) {
        const dy = randn(x.shape) as tf.Tensor2D;
        const host = rmsNormRows(x, g, 1e-5);
        const hostGrad = rmsNormRowsGrad(x, g, host.inv, dy);
        const { result: device, reads } = countSyncReads(() => {
          const r = rmsNormRowsDevice(x, g, 1e-5);
          return { ...r, ...rmsNormRowsGradDevice(x, g, r.inv, dy) };
        });
        expect(reads).toBe(0);
        expect(device.inv.shape).toEqual([x.shape[0], 1]);
        expectClose(device.y, host.y, 1e-5);
        expectClose(device.inv.dataSync() as Float32Array, host.inv, 1e-6);
        expectClose(device.dx, hostGrad.dx, 1e-5);
        expectClose(device.dg, hostGrad.dg, 1e-5);
        compare((a, b) => rmsNormDevice(a, b, 1e-5), (a, b) => rmsNormFused(a, b, 1e-5), [x, g], 1e-5);
      }
    });
  });

  it('RMSNorm over many rows: dgain sums them', () => {
    compare((a, b) => rmsNormDevice(a, b, 1e-5), (a, b) => rmsNormFused(a, b, 1e-5), [randn([4099, 19]), tf.add(randn([19], 0.3), 1)], 1e-5);
  });

  it('GELU [3, 11] and across the tails: y and dx', () => {
    tf.tidy(() => {
      const tails = tf.tensor2d([-100, -30, -9, -5, -3, -0.5, -1e-6, 0, 1e-6, 0.5, 3, 5, 9, 30, 100, -4.7, 4.7], [1, 17]);
      for (const x of [randn([3, 11], 4) as tf.Tensor2D, tails]) {
        const dy = randn(x.shape) as tf.Tensor2D;
        const { result, reads } = countSyncReads(() => ({ y: geluDevice(x), dx: geluGradDevice(x, dy) }));
        expect(reads).toBe(0);
        expectClose(result.y, geluRows(x), 1e-5);
        expectClose(result.dx, geluRowsGrad(x, dy), 1e-5);
      }
    });
  });

  it('embedding [V 7, d 3] with repeated tokens, and with -1 (a zero row): rows and the scatter-added dE', () => {
    const tokens = Int32Array.from([2, 0, 6, 2, 2, 5]);
    compare((E) => embedRowsDevice(E as tf.Tensor2D, tokens), (E) => embedRows(E as tf.Tensor2D, tokens), [randn([7, 3])], 1e-6);
    const prev = Int32Array.from([-1, 2, 0, -1, 6, 6]);
    compare((E) => embedRowsDevice(E as tf.Tensor2D, prev, true), (E) => embedRows(E as tf.Tensor2D, prev, true), [randn([7, 3])], 1e-6);
    expect(() => embedRowsDevice(tf.zeros([7, 3]) as tf.Tensor2D, Int32Array.from([7]))).toThrow(/outside \[0, 7\)/);
    expect(() => embedRowsDevice(tf.zeros([7, 3]) as tf.Tensor2D, Int32Array.from([-1]))).toThrow(/outside \[0, 7\)/);
  });

  it('cross-entropy [9, 13] with masked targets: loss and dlogits; all masked: zero', () => {
    const targets = Int32Array.from([3, -1, 0, 12, -1, 5, 5, -1, 7]);
    const logits = randn([targets.length, 13], 3);
    compare((z) => crossEntropyDevice(z as tf.Tensor2D, targets, 17), (z) => crossEntropyFused(z as tf.Tensor2D, targets, 17), [logits], 1e-5);
    const none = new Int32Array(targets.length).fill(-1);
    const g = tf.grad((z: tf.Tensor) => crossEntropyDevice(z as tf.Tensor2D, none, 1))(logits);
    expect(crossEntropyDevice(logits as tf.Tensor2D, none, 1).dataSync()[0]).toBe(0);
    expect(Math.max(...(g.dataSync() as Float32Array).map(Math.abs))).toBe(0);
    expect(() => crossEntropyDevice(tf.zeros([2, 4]) as tf.Tensor2D, Int32Array.from([1, 4]), 2)).toThrow(/outside \[-1, 4\)/);
    expect(() => crossEntropyDevice(tf.zeros([2, 4]) as tf.Tensor2D, Int32Array.from([1]), 2)).toThrow(/1 targets for 2 rows/);
  });
});
