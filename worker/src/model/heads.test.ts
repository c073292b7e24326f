import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from '@ringtrain/core';
import { errorStats } from '@ringtrain/kernels';
import { headsToRows, ropeHeads, ropeHeadsGrad, ropeTable, rowsToHeads, type HeadShape } from './heads';
import { applyRope, ropeTables } from './layers';

/**
 * ropeHeads / ropeHeadsGrad against the plain form: applyRope on [N, heads, Dh] rows, then
 * reshape + transpose to head-major; the gradient against tf.grads of that form.
 */

const rng = new SeededRandom(5);
const randn = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 1), shape);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, rel = 1e-6): void {
  expect(actual.shape).toEqual(expected.shape);
  const e = errorStats(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array);
  expect(e.nan).toBe(0);
  expect(e.rel).toBeLessThanOrEqual(rel);
}

const toHeadMajor = (t: tf.Tensor, B: number, Sr: number, h: number, Dh: number) =>
  tf.reshape(tf.transpose(tf.reshape(t, [B, Sr, h, Dh]), [0, 2, 1, 3]), [B * h, Sr, Dh]);

/** The plain form: qkv rows -> q|k|v head-major, flattened and concatenated (one output for tf.grads). */
function plainRopeHeads(qkv: tf.Tensor, s: HeadShape, pos: Int32Array): tf.Tensor {
  const { batch: B, shardLen: Sr, heads: H, kvHeads: Hkv, headDim: Dh } = s;
  const N = B * Sr;
  const rope = ropeTables(Int32Array.from({ length: N }, (_, i) => pos[i % Sr]), Dh, 10000);
  const [q, k, v] = tf.split(qkv, [H * Dh, Hkv * Dh, Hkv * Dh], 1);
  const qr = applyRope(tf.reshape(q, [N, H, Dh]) as tf.Tensor3D, rope.cos, rope.sin);
  const kr = applyRope(tf.reshape(k, [N, Hkv, Dh]) as tf.Tensor3D, rope.cos, rope.sin);
  return tf.concat([toHeadMajor(qr, B, Sr, H, Dh), toHeadMajor(kr, B, Sr, Hkv, Dh), toHeadMajor(v, B, Sr, Hkv, Dh)].map((t) => tf.reshape(t, [-1])));
}

describe('rope heads', () => {
  const shapes: HeadShape[] = [
    { batch: 2, shardLen: 5, heads: 4, kvHeads: 2, headDim: 6 },
    { batch: 1, shardLen: 3, heads: 3, kvHeads: 3, headDim: 2 },
    { batch: 3, shardLen: 1, heads: 2, kvHeads: 1, headDim: 8 },
  ];
  it.each(shapes)('%o: forward and gradient equal applyRope + transpose and its tf.grads', (s) => {
    tf.tidy(() => {
      const pos = Int32Array.from({ length: s.shardLen }, (_, i) => 3 * i + (i % 2) + 1000 * (i % 3)); // striped-like, large angles
      const table = ropeTable(pos, s.headDim, 10000);
      const width = (s.heads + 2 * s.kvHeads) * s.headDim;
      const qkv = randn([s.batch * s.shardLen, width]) as tf.Tensor2D;
      const got = ropeHeads(qkv, s, table);
      const want = plainRopeHeads(qkv, s, pos);
      expect(got.q.shape).toEqual([s.batch * s.heads, s.shardLen, s.headDim]);
      expect(got.k.shape).toEqual([s.batch * s.kvHeads, s.shardLen, s.headDim]);
      expectClose(tf.concat([got.q, got.k, got.v].map((t) => tf.reshape(t, [-1]))), want);

      const dq = randn(got.q.shape) as tf.Tensor3D;
      const dk = randn(got.k.shape) as tf.Tensor3D;
      const dv = randn(got.v.shape) as tf.Tensor3D;
      const dy = tf.concat([dq, dk, dv].map((t) => tf.reshape(t, [-1])));
      const [wantGrad] = tf.grads((x: tf.Tensor) => plainRopeHeads(x, s, pos))([qkv], dy);
      expectClose(ropeHeadsGrad(dq, dk, dv, s, table), wantGrad);
    });
  });

  it('headsToRows and rowsToHeads are the head-major <-> rows transposes', () => {
    tf.tidy(() => {
      const [B, h, Sr, Dh] = [2, 3, 5, 4];
      const heads = randn([B * h, Sr, Dh]) as tf.Tensor3D;
      const rows = headsToRows(heads, B, h);
      expectClose(rows, tf.reshape(tf.transpose(tf.reshape(heads, [B, h, Sr, Dh]), [0, 2, 1, 3]), [B * Sr, h * Dh]), 0);
      expectClose(rowsToHeads(rows, B, h, Dh), heads, 0);
    });
  });
});
