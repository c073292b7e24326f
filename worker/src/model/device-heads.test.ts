import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from '@ringtrain/core';
import { errorStats } from '@ringtrain/kernels';
import { headsToRowsDevice, ropeHeadsDevice, ropeHeadsGradDevice, ropeTensors, rowsToHeadsDevice } from './device-heads';
import { headsToRows, ropeHeads, ropeHeadsGrad, ropeTable, rowsToHeads, type HeadShape } from './heads';
import { useDeviceOps } from './ops-mode';
import { stepOps } from './step-ops';
import { countSyncReads } from './testing/count-reads';

/**
 * The device forms of heads.ts (and of the Wq|Wk|Wv join and split) against the host forms,
 * which heads.test.ts pins to applyRope + transpose: forward and the written-out gradients;
 * the device side reads nothing.
 */

const rng = new SeededRandom(9);
const randn = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 1), shape);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, rel: number): void {
  expect(actual.shape).toEqual(expected.shape);
  const e = errorStats(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array);
  expect(e.nan).toBe(0);
  expect(e.rel).toBeLessThanOrEqual(rel);
}

describe('device heads match the host forms', () => {
  afterEach(() => useDeviceOps(false));

  const shapes: HeadShape[] = [
    { batch: 2, shardLen: 5, heads: 4, kvHeads: 2, headDim: 6 },
    { batch: 1, shardLen: 3, heads: 3, kvHeads: 3, headDim: 2 },
    { batch: 3, shardLen: 1, heads: 2, kvHeads: 1, headDim: 8 },
  ];
  it.each(shapes)('%o: RoPE + head-major copy and its gradient', (s) => {
    tf.tidy(() => {
      const pos = Int32Array.from({ length: s.shardLen }, (_, i) => 3 * i + (i % 2) + 1000 * (i % 3)); // striped-like, large angles
      const qkv = randn([s.batch * s.shardLen, (s.heads + 2 * s.kvHeads) * s.headDim]) as tf.Tensor2D;
      const want = ropeHeads(qkv, s, ropeTable(pos, s.headDim, 10000));
      const dq = randn(want.q.shape) as tf.Tensor3D;
      const dk = randn(want.k.shape) as tf.Tensor3D;
      const dv = randn(want.v.shape) as tf.Tensor3D;
      const { result, reads } = countSyncReads(() => {
        const rope = ropeTensors(pos, s.headDim, 10000);
        return { heads: ropeHeadsDevice(qkv, s, rope), grad: ropeHeadsGradDevice(dq, dk, dv, s, rope) };
      });
      expect(reads).toBe(0);
      // The tables are the host's own values; only the multiply-adds may round differently.
      expectClose(result.heads.q, want.q, 1e-6);
      expectClose(result.heads.k, want.k, 1e-6);
      expectClose(result.heads.v, want.v, 0);
      expectClose(result.grad, ropeHeadsGrad(dq, dk, dv, s, ropeTable(pos, s.headDim, 10000)), 1e-6);
    });
  });

  it('headsToRows and rowsToHeads', () => {
    tf.tidy(() => {
      const [B, h, Sr, Dh] = [2, 3, 5, 4];
      const heads = randn([B * h, Sr, Dh]) as tf.Tensor3D;
      const rows = randn([B * Sr, h * Dh]) as tf.Tensor2D;
      const { result, reads } = countSyncReads(() => ({ rows: headsToRowsDevice(heads, B, h), heads: rowsToHeadsDevice(rows, B, h, Dh) }));
      expect(reads).toBe(0);
      expectClose(result.rows, headsToRows(heads, B, h), 0);
      expectClose(result.heads, rowsToHeads(rows, B, h, Dh), 0);
    });
  });

  it('the step\'s head copies, Wq|Wk|Wv join and split read back: device equals host', async () => {
    const d = 5;
    const widths = [6, 3, 3];
    const values = widths.map((w) => Float32Array.from(rng.normalArray(d * w, 1)));
    const tensors = values.map((v, i) => tf.tensor2d(v, [d, widths[i]]));
    const s: HeadShape = { batch: 2, shardLen: 3, heads: 2, kvHeads: 1, headDim: 4 };
    const pos = Int32Array.from([4, 9, 17]);
    const qkv = randn([s.batch * s.shardLen, (s.heads + 2 * s.kvHeads) * s.headDim]) as tf.Tensor2D;
    const run = async (device: boolean) => {
      useDeviceOps(device);
      const ops = stepOps();
      const { result: joined, reads } = countSyncReads(() => ops.concatColumns(d, values, tensors));
      if (device) expect(reads).toBe(0);
      const read = ops.readColumns(tf.mul(joined, 2) as tf.Tensor2D, widths);
      const parts = await read.values;
      tf.dispose(read.tensors);
      const copies = ops.headCopies(s, pos, 10000);
      const heads = copies.toHeads(qkv);
      const back = copies.toHeadsGrad(heads.q, heads.k, heads.v);
      const rows = copies.toRows(heads.q);
      const out = { joined, parts, q: heads.q, back, rows, rowsBack: copies.toRowsGrad(rows) };
      copies.dispose();
      return out;
    };
    const host = await run(false);
    const device = await run(true);
    expectClose(device.joined, host.joined, 0);
    expect(device.parts.map((p) => Array.from(p))).toEqual(values.map((v) => Array.from(v, (x) => 2 * x)));
    expect(host.parts.map((p) => Array.from(p))).toEqual(values.map((v) => Array.from(v, (x) => 2 * x)));
    expectClose(device.q, host.q, 1e-6);
    expectClose(device.back, host.back, 1e-6);
    expectClose(device.back, qkv, 1e-6); // the rotation's transpose is its inverse
    expectClose(device.rows, host.rows, 1e-6);
    expectClose(device.rowsBack, host.q, 1e-6);
    tf.dispose([...tensors, qkv, ...[host, device].flatMap((r) => [r.joined, r.q, r.back, r.rows, r.rowsBack])]);
  });
});
