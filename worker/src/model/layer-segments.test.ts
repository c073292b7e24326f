import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from '@ringtrain/core';
import { errorStats, nativeElementwise, type NativeElementwise } from '@ringtrain/kernels';
import { useNativeElementwise } from './fused';
import { useDeviceOps } from './ops-mode';
import { geluTanhOps, rmsNorm } from './layers';
import { countSyncReads } from './testing/count-reads';
import { concatColumns, postBackward, postForward, preBackward, preForward, splitColumns } from './layer-segments';

// Odd sizes: 7 rows, d 5, q|k|v widths 6 + 3 + 3, MLP hidden 11.
const N = 7, d = 5, hidden = 11, eps = 1e-5;
const rng = new SeededRandom(5);
const rand = (...shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 0.7), shape);

function expectClose(name: string, actual: tf.Tensor, expected: tf.Tensor) {
  expect(actual.shape).toEqual(expected.shape);
  const e = errorStats(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array);
  expect({ name, ok: e.rel < 1e-5 }).toEqual({ name, ok: true });
}

// RMSNorm and GELU in JS, in the native addon (when it loads), or as device-resident tfjs ops.
const native = nativeElementwise();
const useNative = (ops: NativeElementwise) => () => useNativeElementwise(ops);
const implementations: Array<[string, () => void]> = [
  ['js', () => undefined],
  ...(native ? [['native', useNative(native)] as [string, () => void]] : []),
  ['device', () => useDeviceOps(true)],
];

describe.each(implementations)('layer segments (hand-written backward, %s elementwise) against tf.grads of the plain forms', (_name, select) => {
  beforeEach(select);
  afterEach(() => {
    useNativeElementwise(null);
    useDeviceOps(false);
  });

  test('pre-attention: qkv, dx, dg1, dWqkv', () => {
    const x = rand(N, d) as tf.Tensor2D, g1 = rand(d) as tf.Tensor1D, wqkv = rand(d, 12) as tf.Tensor2D, dqkv = rand(N, 12) as tf.Tensor2D;
    const plain = (x: tf.Tensor, g: tf.Tensor, w: tf.Tensor) => tf.matMul(rmsNorm(x, g, eps), w as tf.Tensor2D);
    expectClose('qkv', preForward(x, { g1, wqkv }, eps), plain(x, g1, wqkv));
    const [gx, gg, gw] = tf.grads(plain)([x, g1, wqkv], dqkv);
    const r = preBackward(x, { g1, wqkv }, eps, dqkv);
    expectClose('dx', r.dx, gx);
    expectClose('dg1', r.dg1, gg);
    expectClose('dWqkv', r.dwqkv, gw);
  });

  test('post-attention: y, dx, dO, dWo, dg2, dW1, dW2', () => {
    const x = rand(N, d) as tf.Tensor2D, o = rand(N, 6) as tf.Tensor2D, dy = rand(N, d) as tf.Tensor2D;
    const w = { wo: rand(6, d) as tf.Tensor2D, g2: rand(d) as tf.Tensor1D, w1: rand(d, hidden) as tf.Tensor2D, w2: rand(hidden, d) as tf.Tensor2D };
    const plain = (x: tf.Tensor, o: tf.Tensor, wo: tf.Tensor, g: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) => {
      const x1 = tf.add(x, tf.matMul(o as tf.Tensor2D, wo as tf.Tensor2D));
      return tf.add(x1, tf.matMul(geluTanhOps(tf.matMul(rmsNorm(x1, g, eps), w1 as tf.Tensor2D)) as tf.Tensor2D, w2 as tf.Tensor2D));
    };
    const { y, saved } = postForward(x, o, w, eps);
    expectClose('y', y, plain(x, o, w.wo, w.g2, w.w1, w.w2));
    const [gx, go, gwo, gg, gw1, gw2] = tf.grads(plain)([x, o, w.wo, w.g2, w.w1, w.w2], dy);
    const r = postBackward(o, w, eps, saved, dy);
    expectClose('dx', r.dx, gx);
    expectClose('dO', r.dO, go);
    expectClose('dWo', r.dwo, gwo);
    expectClose('dg2', r.dg2, gg);
    expectClose('dW1', r.dw1, gw1);
    expectClose('dW2', r.dw2, gw2);
  });

  test('splitColumns undoes concatColumns', () => {
    const parts = [Float32Array.from({ length: d * 6 }, (_, i) => i), Float32Array.from({ length: d * 3 }, (_, i) => 100 + i), Float32Array.from({ length: d * 3 }, (_, i) => 200 + i)];
    const m = concatColumns(d, parts);
    expect(m.shape).toEqual([d, 12]);
    expect(Array.from(m.dataSync().slice(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 100, 101, 102, 200, 201, 202]);
    expect(splitColumns(m.dataSync() as Float32Array, d, [6, 3, 3]).map((p) => Array.from(p))).toEqual(parts.map((p) => Array.from(p)));
  });
});

test('with device ops the segments read no tensor', () => {
  useDeviceOps(true);
  try {
    tf.tidy(() => {
      const x = rand(N, d) as tf.Tensor2D, o = rand(N, 6) as tf.Tensor2D, dy = rand(N, d) as tf.Tensor2D;
      const pw = { g1: rand(d) as tf.Tensor1D, wqkv: rand(d, 12) as tf.Tensor2D };
      const w = { wo: rand(6, d) as tf.Tensor2D, g2: rand(d) as tf.Tensor1D, w1: rand(d, hidden) as tf.Tensor2D, w2: rand(hidden, d) as tf.Tensor2D };
      const { reads } = countSyncReads(() => {
        preBackward(x, pw, eps, preForward(x, pw, eps));
        postBackward(o, w, eps, postForward(x, o, w, eps).saved, dy);
      });
      expect(reads).toBe(0);
    });
  } finally {
    useDeviceOps(false);
  }
});
