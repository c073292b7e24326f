import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from './backend';
import { tfjsKernel } from './block-attention';
import { fromHeadMajor, fromHeadMajor2D, toHeadMajor, toHeadMajor2D } from './layout-convert';
import { disposeForward, mergeInto, mergeOnDevice, mergePartial } from './merge';
import { referenceBackward, referenceForward } from './reference';
import {
  contiguous,
  disposeBlockInputs,
  documentsAt,
  expectAllEqual,
  expectClose,
  makeProblem,
  selectKeys,
  striped,
  toBlockInputs,
  zigzag,
  type Problem,
} from '../testing/helpers';
import type { BlockForward } from './types';

beforeAll(() => ensureCpuBackend({ quiet: true }));

const S = 130;
const dims = { heads: 4, kvHeads: 2, headDim: 8 };

/** Key indices [from, to) for consecutive cut points, e.g. [0, 5, 70, 130] -> three blocks. */
const cuts = (points: number[]) => points.slice(1).map((to, i) => contiguous(points[i], to - points[i]));

/** What one rank computes: its queries against each key block in turn, merged with mergeInto. */
function mergedForward(p: Problem, blocks: Int32Array[]): { out: Float32Array; lse: Float32Array } {
  let acc: BlockForward | null = null;
  for (const idx of blocks) {
    const inputs = toBlockInputs(selectKeys(p, idx));
    acc = mergeInto(acc, tfjsKernel.forward(inputs));
    disposeBlockInputs(inputs);
  }
  if (acc === null) throw new Error('no blocks');
  const got = { out: fromHeadMajor(acc.out), lse: fromHeadMajor2D(acc.lse) };
  disposeForward(acc);
  return got;
}

const splits: Array<{ name: string; posQ: Int32Array; blocks: Int32Array[] }> = [
  // Queries 20..59: block [70,130) is hidden from all of them, [25,33) from queries 20..24.
  { name: 'contiguous, 3 uneven blocks, one fully masked', posQ: contiguous(20, 40), blocks: cuts([0, 5, 70, 130]) },
  { name: 'contiguous, 4 uneven blocks, rows masked in one', posQ: contiguous(20, 40), blocks: cuts([0, 25, 33, 64, 130]) },
  { name: 'contiguous, 2 blocks', posQ: contiguous(0, S), blocks: cuts([0, 77, 130]) },
  { name: 'striped ranks as blocks', posQ: striped(1, 4, S), blocks: [0, 1, 2, 3].map((r) => striped(r, 4, S)) },
  { name: 'zigzag ranks as blocks, reverse order', posQ: zigzag(0, 3, S), blocks: [2, 1, 0].map((r) => zigzag(r, 3, S)) },
];

describe('mergePartial over key blocks equals one block over all keys', () => {
  test.each(splits)('$name', ({ posQ, blocks }) => {
    const p = makeProblem({ ...dims, posQ, posK: contiguous(0, S), causal: true, seed: 3 });
    const ref = referenceForward(p);
    const merged = mergedForward(p, blocks);
    expectClose('merged out vs reference', merged.out, ref.out);
    expectClose('merged lse vs reference', merged.lse, ref.lse);
    const single = mergedForward(p, [contiguous(0, S)]);
    expectClose('merged out vs single block', merged.out, single.out);
    expectClose('merged lse vs single block', merged.lse, single.lse);
  });

  test('rows that see no key in any block stay at lse -inf, out 0, with no NaN', () => {
    // Keys start at position 5: queries 0..4 see nothing anywhere, 5..19 see some.
    const p = makeProblem({ ...dims, posQ: contiguous(0, 20), posK: contiguous(5, 60), causal: true });
    const merged = mergedForward(p, cuts([0, 3, 30, 60]));
    const rowsH = 5 * dims.heads;
    expectAllEqual('lse of rows 0..4', merged.lse.subarray(0, rowsH), -Infinity);
    expectAllEqual('out of rows 0..4', merged.out.subarray(0, rowsH * dims.headDim), 0);
    const ref = referenceForward(p);
    expectClose('out', merged.out, ref.out);
    expectClose('lse', merged.lse, ref.lse);
  });

  test('backward per block with the merged out/lse sums to the full backward', () => {
    // The ring backward: dq accumulates on the query rank, dk/dv belong to each key block.
    const p = makeProblem({ ...dims, posQ: striped(2, 4, S), posK: contiguous(0, S), causal: true, seed: 9 });
    const blocks = [0, 1, 2, 3].map((r) => striped(r, 4, S));
    const merged = mergedForward(p, blocks);
    const out = toHeadMajor(merged.out, p.seqQ, p.heads, p.headDim);
    const lse = toHeadMajor2D(merged.lse, p.seqQ, p.heads);
    const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
    const dq = new Float32Array(p.q.length);
    const dk = new Float32Array(p.k.length);
    const dv = new Float32Array(p.v.length);
    const row = p.kvHeads * p.headDim;
    for (const idx of blocks) {
      const inputs = toBlockInputs(selectKeys(p, idx));
      const g = tfjsKernel.backward({ ...inputs, dout, out, lse });
      fromHeadMajor(g.dq).forEach((x, i) => (dq[i] += x));
      const [gk, gv] = [fromHeadMajor(g.dk), fromHeadMajor(g.dv)];
      idx.forEach((j, b) => {
        dk.set(gk.subarray(b * row, (b + 1) * row), j * row);
        dv.set(gv.subarray(b * row, (b + 1) * row), j * row);
      });
      tf.dispose([g.dq, g.dk, g.dv]);
      disposeBlockInputs(inputs);
    }
    tf.dispose([out, lse, dout]);
    const ref = referenceBackward(p);
    expectClose('dq', dq, ref.dq);
    expectClose('dk', dk, ref.dk);
    expectClose('dv', dv, ref.dv);
  });
});

describe('with documents (packed sequences), merged block partials equal one block', () => {
  // Documents of 30, 1, 49, 50 tokens: queries and key blocks cut across them.
  const starts = [0, 30, 31, 80];
  const docsOf = (p: Problem) => ({ ...p, docQ: documentsAt(p.posQ, starts), docK: documentsAt(p.posK, starts) });
  const docSplits: Array<{ name: string; posQ: Int32Array; blocks: Int32Array[] }> = [
    // Block [0, 30) shares no document with queries 40..79: 'none', lse -inf, merged away.
    { name: 'contiguous, 3 blocks, one sharing no document', posQ: contiguous(40, 40), blocks: cuts([0, 30, 70, 130]) },
    { name: 'contiguous, cuts inside documents and at the one-token document', posQ: contiguous(0, S), blocks: cuts([0, 30, 31, 55, 130]) },
    { name: 'striped ranks as blocks', posQ: striped(3, 4, S), blocks: [0, 1, 2, 3].map((r) => striped(r, 4, S)) },
    { name: 'zigzag ranks as blocks, reverse order', posQ: zigzag(1, 3, S), blocks: [2, 1, 0].map((r) => zigzag(r, 3, S)) },
  ];

  test.each(docSplits)('forward: $name', ({ posQ, blocks }) => {
    const p = docsOf(makeProblem({ ...dims, posQ, posK: contiguous(0, S), causal: true, seed: 4 }));
    const ref = referenceForward(p);
    const merged = mergedForward(p, blocks);
    expectClose('merged out vs reference', merged.out, ref.out);
    expectClose('merged lse vs reference', merged.lse, ref.lse);
    const single = mergedForward(p, [contiguous(0, S)]);
    expectClose('merged out vs single block', merged.out, single.out);
    expectClose('merged lse vs single block', merged.lse, single.lse);
    expect(merged.out.every((x) => !Number.isNaN(x))).toBe(true);
  });

  test('backward per block with the merged out/lse sums to the full backward', () => {
    const p = docsOf(makeProblem({ ...dims, posQ: zigzag(0, 2, S), posK: contiguous(0, S), causal: true, seed: 10 }));
    const blocks = [0, 1].map((r) => zigzag(r, 2, S));
    const merged = mergedForward(p, blocks);
    const out = toHeadMajor(merged.out, p.seqQ, p.heads, p.headDim);
    const lse = toHeadMajor2D(merged.lse, p.seqQ, p.heads);
    const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
    const dq = new Float32Array(p.q.length);
    const dk = new Float32Array(p.k.length);
    const dv = new Float32Array(p.v.length);
    const row = p.kvHeads * p.headDim;
    for (const idx of blocks) {
      const inputs = toBlockInputs(selectKeys(p, idx));
      const g = tfjsKernel.backward({ ...inputs, dout, out, lse });
      fromHeadMajor(g.dq).forEach((x, i) => (dq[i] += x));
      const [gk, gv] = [fromHeadMajor(g.dk), fromHeadMajor(g.dv)];
      idx.forEach((j, b) => {
        dk.set(gk.subarray(b * row, (b + 1) * row), j * row);
        dv.set(gv.subarray(b * row, (b + 1) * row), j * row);
      });
      tf.dispose([g.dq, g.dk, g.dv]);
      disposeBlockInputs(inputs);
    }
    tf.dispose([out, lse, dout]);
    const ref = referenceBackward(p);
    expectClose('dq', dq, ref.dq);
    expectClose('dk', dk, ref.dk);
    expectClose('dv', dv, ref.dv);
  });
});

describe('merge edge cases and ownership', () => {
  const part = (out: number[], lse: number[]): BlockForward => ({
    out: tf.tensor3d(out, [1, lse.length, out.length / lse.length]),
    lse: tf.tensor2d(lse, [1, lse.length]),
  });

  test('-inf on one side returns the other side exactly; -inf on both stays (-inf, 0)', () => {
    // Rows: [a finite, b -inf], [a -inf, b finite], [both -inf], [both finite and equal].
    const a = part([1, 2, 0, 0, 0, 0, 5, 6], [0.3, -Infinity, -Infinity, 2]);
    const b = part([0, 0, 3, 4, 0, 0, 7, 8], [-Infinity, 1.5, -Infinity, 2]);
    const m = mergePartial(a, b);
    expect(Array.from(m.out.dataSync())).toEqual([1, 2, 3, 4, 0, 0, 6, 7]);
    const lse = m.lse.dataSync();
    expect(Array.from(lse.subarray(0, 3))).toEqual([0.3, 1.5, -Infinity].map(Math.fround));
    expect(lse[3]).toBeCloseTo(2 + Math.log(2), 6);
    tf.dispose([a.out, a.lse, b.out, b.lse, m.out, m.lse]);
  });

  test('mergePartial borrows: inputs stay alive, results are new tensors', () => {
    const a = part([1, 2], [0]);
    const b = part([3, 4], [0]);
    const first = mergePartial(null, a);
    expect(first.out).not.toBe(a.out);
    disposeForward(a); // the clone must outlive the original
    expect(Array.from(first.out.dataSync())).toEqual([1, 2]);
    const before = tf.memory().numTensors;
    const merged = mergePartial(first, b);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(first.out.isDisposed || b.out.isDisposed).toBe(false);
    expect(Array.from(merged.out.dataSync())).toEqual([2, 3]);
    [first, b, merged].forEach(disposeForward);
  });

  test('mergeInto consumes both and leaves only the new accumulator', () => {
    const before = tf.memory().numTensors;
    let acc = mergeInto(null, part([1, 2], [0]));
    for (let i = 0; i < 3; i++) acc = mergeInto(acc, part([3, 4], [1]));
    expect(tf.memory().numTensors).toBe(before + 2);
    disposeForward(acc);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('rejects partials of different shapes', () => {
    const a = part([1, 2], [0]);
    const b = part([1, 2, 3, 4], [0, 0]);
    expect(() => mergePartial(a, b)).toThrow(/differ in shape/);
    [a, b].forEach(disposeForward);
  });
});

describe('the device form of the merge (tfjs ops, for GPU backends) equals the host form', () => {
  test('finite, one-sided -inf and two-sided -inf rows', () => {
    const H = 3;
    const Sq = 4;
    const D = 5;
    const lseA = Float32Array.from([0.5, -Infinity, 2, -Infinity, 1, 3, -Infinity, 0, 7, -2, -Infinity, 4]);
    const lseB = Float32Array.from([1.5, 0.25, -Infinity, -Infinity, 1, -1, -Infinity, 9, -7, 2, 5, 4]);
    const part = (lse: Float32Array, seed: number): BlockForward => ({
      out: tf.tensor3d(Float32Array.from({ length: H * Sq * D }, (_, i) => (lse[Math.floor(i / D)] === -Infinity ? 0 : Math.sin(seed * 7 + i))), [H, Sq, D]),
      lse: tf.tensor2d(lseA === lse ? lseA : lseB, [H, Sq]),
    });
    const a = part(lseA, 1);
    const b = part(lseB, 2);
    const host = mergePartial(a, b);
    const device = mergeOnDevice(a, b);
    expectClose('out', device.out.dataSync() as Float32Array, host.out.dataSync() as Float32Array);
    expect(Array.from(device.lse.dataSync())).toEqual(Array.from(host.lse.dataSync()).map((x) => expect.closeTo(x, 5)));
    expect(device.out.dataSync().every((x) => !Number.isNaN(x))).toBe(true);
    [a, b, host, device].forEach(disposeForward);
  });
});
