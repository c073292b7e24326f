/**
 * One test suite for every AttentionKernel (tfjs ops, native OpenBLAS build, native portable
 * build, WebGPU): the same cases against the float64 reference, with and without document
 * masking. Used by the kernels' tests only.
 */
import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import { ensureCpuBackend } from '../src/backend';
import { readHeadMajor, readHeadMajor2D, toHeadMajor, toHeadMajor2D } from '../src/layout-convert';
import { referenceBackward, referenceForward, type ReferenceForward, type ReferenceGrads, type ReferenceInputs } from '../src/reference';
import { blockVisibility } from '../src/mask';
import {
  contiguous,
  disposeBlockInputs,
  documentsAt,
  seededRandom,
  expectAllEqual,
  expectClose,
  makeProblem,
  striped,
  toBlockInputs,
  zigzag,
  type ProblemSpec,
} from './helpers';
import type { AttentionKernel } from '../src/types';

type Case = ProblemSpec & { name: string };

const gqa = { heads: 8, kvHeads: 2, headDim: 16 };
const mqa = { heads: 4, kvHeads: 1, headDim: 8 };
const shuffled = Int32Array.from([17, 3, 40, 8, 0, 25, 31, 12, 5]);

export const attentionCases: Case[] = [
  { name: '1x1 diagonal', heads: 1, kvHeads: 1, headDim: 4, posQ: contiguous(0, 1), posK: contiguous(0, 1), causal: true },
  { name: '1x7 query inside the key block, GQA', ...gqa, posQ: contiguous(3, 1), posK: contiguous(0, 7), causal: true },
  { name: '7x1 non-causal, MQA', ...mqa, posQ: contiguous(0, 7), posK: contiguous(50, 1), causal: false },
  { name: '7x129 non-causal, GQA', ...gqa, posQ: contiguous(0, 7), posK: contiguous(0, 129), causal: false },
  { name: '129x129 causal diagonal, MQA', ...mqa, posQ: contiguous(0, 129), posK: contiguous(0, 129), causal: true },
  { name: '129x7 queries after keys (mask skipped)', ...gqa, posQ: contiguous(200, 129), posK: contiguous(10, 7), causal: true },
  { name: '7x7 one visible pair (last query, first key)', ...gqa, posQ: contiguous(0, 7), posK: contiguous(6, 7), causal: true },
  { name: 'striped rank 2 <- rank 1 (b <= a)', ...gqa, posQ: striped(2, 4, 130), posK: striped(1, 4, 130), causal: true },
  { name: 'striped rank 1 <- rank 2 (b < a)', ...gqa, posQ: striped(1, 4, 130), posK: striped(2, 4, 130), causal: true },
  { name: 'striped rank 0 <- rank 3 (row 0 sees nothing)', ...mqa, posQ: striped(0, 4, 129), posK: striped(3, 4, 129), causal: true },
  { name: 'zigzag rank 0 <- rank 2, uneven chunks', ...gqa, posQ: zigzag(0, 3, 129), posK: zigzag(2, 3, 129), causal: true },
  { name: 'zigzag rank 2 <- rank 2 (own block)', ...mqa, posQ: zigzag(2, 3, 129), posK: zigzag(2, 3, 129), causal: true },
  { name: 'unsorted positions', ...gqa, posQ: shuffled, posK: Int32Array.from(shuffled).reverse(), causal: true },
  {
    name: 'large exact logits (needs the max shift)',
    heads: 2,
    kvHeads: 1,
    headDim: 4,
    posQ: contiguous(0, 33),
    posK: contiguous(0, 33),
    causal: true,
    integerLogits: 8,
  },
  { name: '1000x1000 causal diagonal', heads: 2, kvHeads: 1, headDim: 8, posQ: contiguous(0, 1000), posK: contiguous(0, 1000), causal: true },
  { name: '1000x129 striped queries, offset keys', heads: 2, kvHeads: 2, headDim: 4, posQ: striped(1, 2, 2000), posK: contiguous(700, 129), causal: true },
  // Sizes around the native kernel's 128-wide tiles and 16-float vectors, head dims it pads.
  { name: '300x300 causal, tiles with ragged edges, D 64', heads: 2, kvHeads: 1, headDim: 64, posQ: contiguous(0, 300), posK: contiguous(0, 300), causal: true },
  { name: '257x131 non-causal, odd head dim 13', heads: 3, kvHeads: 3, headDim: 13, posQ: contiguous(0, 257), posK: contiguous(0, 131), causal: false },
  { name: '260x200 zigzag rank 1 <- rank 0, D 33', heads: 4, kvHeads: 2, headDim: 33, posQ: zigzag(1, 2, 520), posK: zigzag(0, 2, 400), causal: true },
  // Tiles straddling the diagonal, where the native kernel computes each group of rows only over
  // the key columns it may see (a prefix for sorted positions, a suffix for descending ones).
  { name: '400x390 striped rank 0 <- rank 1 (keys strictly before), D 64', heads: 2, kvHeads: 1, headDim: 64, posQ: striped(0, 2, 800), posK: striped(1, 2, 780), causal: true },
  { name: '400x400 striped rank 1 <- rank 0 (keys at or before), GQA', ...gqa, posQ: striped(1, 2, 800), posK: striped(0, 2, 800), causal: true },
  { name: '301x257 zigzag rank 0 <- rank 1, D 24', heads: 2, kvHeads: 2, headDim: 24, posQ: zigzag(0, 2, 602), posK: zigzag(1, 2, 514), causal: true },
  { name: '300x300 descending positions (visible keys a suffix), D 64', heads: 2, kvHeads: 1, headDim: 64, posQ: descending(300), posK: descending(300), causal: true },
  { name: '259x261 shuffled positions, D 13', heads: 2, kvHeads: 1, headDim: 13, posQ: permutation(259, 3), posK: permutation(261, 4), causal: true },
  { name: '200x260 keys offset by half a tile (rows of a tile see from 0 to all keys)', ...mqa, posQ: contiguous(64, 200), posK: contiguous(0, 260), causal: true },
];

/** Positions n-1 … 0. */
function descending(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => n - 1 - i);
}

/** A fixed pseudo-random permutation of 0 … n-1. */
function permutation(n: number, seed: number): Int32Array {
  const rand = seededRandom(seed);
  const a = contiguous(0, n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The same document boundaries on both sides of a block (packed sequences). */
function packed(posQ: Int32Array, posK: Int32Array, starts: number[], ids?: number[]): Pick<Case, 'posQ' | 'posK' | 'docQ' | 'docK'> {
  return { posQ, posK, docQ: documentsAt(posQ, starts, ids), docK: documentsAt(posK, starts, ids) };
}

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/** Document masking (packed sequences): every case also masks by docQ[i] === docK[j]. */
export const documentCases: Case[] = [
  { name: 'docs: 129x129 causal, documents split the block (40 alone, 41..99, 100..)', ...gqa, ...packed(contiguous(0, 129), contiguous(0, 129), [0, 40, 41, 100]), causal: true },
  { name: 'docs: every token its own document (only the diagonal)', ...mqa, ...packed(contiguous(0, 33), contiguous(0, 33), Array.from({ length: 33 }, (_, i) => i)), causal: true },
  { name: 'docs: 64x70 queries after keys, one document spans both blocks', ...mqa, ...packed(contiguous(70, 64), contiguous(0, 70), [0, 30, 90, 120]), causal: true },
  { name: 'docs: 9x11 blocks share no document', ...gqa, ...packed(contiguous(20, 9), contiguous(0, 11), [0, 15]), causal: true },
  { name: 'docs: queries in one document, keys in three', ...gqa, ...packed(contiguous(50, 20), contiguous(0, 80), [0, 20, 45, 75]), causal: true },
  { name: 'docs: striped rank 2 <- rank 1, documents of 37, 1, 112, 51, 59', ...gqa, ...packed(striped(2, 4, 260), striped(1, 4, 260), [0, 37, 38, 150, 201]), causal: true },
  { name: 'docs: striped rank 1 <- rank 2, MQA', ...mqa, ...packed(striped(1, 4, 260), striped(2, 4, 260), [0, 37, 38, 150, 201]), causal: true },
  { name: 'docs: zigzag rank 0 <- rank 2, a document across both chunks', ...gqa, ...packed(zigzag(0, 3, 300), zigzag(2, 3, 300), [0, 60, 130, 131, 250]), causal: true },
  { name: 'docs: zigzag rank 1 <- rank 1 (own block)', ...mqa, ...packed(zigzag(1, 3, 300), zigzag(1, 3, 300), [0, 60, 130, 131, 250]), causal: true },
  {
    name: 'docs: shuffled positions, unsorted extreme ids',
    ...gqa,
    ...packed(shuffled, Int32Array.from(shuffled).reverse(), [0, 5, 9, 26], [I32_MAX, I32_MIN, 7, -1]),
    causal: true,
  },
  {
    name: 'docs: interleaved ids (position mod 3), not contiguous',
    ...gqa,
    posQ: contiguous(0, 40),
    posK: contiguous(0, 50),
    docQ: Int32Array.from(contiguous(0, 40), (p) => (p % 3) * 1000 - 5),
    docK: Int32Array.from(contiguous(0, 50), (p) => (p % 3) * 1000 - 5),
    causal: true,
  },
  { name: 'docs: 7x129 non-causal, GQA, 3 documents', ...gqa, ...packed(contiguous(60, 7), contiguous(0, 129), [0, 50, 62, 100]), causal: false },
  { name: 'docs: non-causal, one document on both sides (every pair visible)', ...mqa, ...packed(contiguous(0, 17), contiguous(0, 23), [0], [42]), causal: false },
  { name: 'docs: 300x300 causal D 64, documents at tile edges (96, 128, 129, 256)', heads: 2, kvHeads: 1, headDim: 64, ...packed(contiguous(0, 300), contiguous(0, 300), [0, 96, 128, 129, 200, 256]), causal: true },
  {
    name: 'docs: 257x131 non-causal D 13, 6 documents, queries of a document without keys',
    heads: 3,
    kvHeads: 3,
    headDim: 13,
    ...packed(contiguous(0, 257), contiguous(0, 131), [0, 17, 64, 65, 131, 200]),
    causal: false,
  },
  { name: 'docs: 1000x1000 causal, long and short documents', heads: 2, kvHeads: 1, headDim: 8, ...packed(contiguous(0, 1000), contiguous(0, 1000), [0, 1, 2, 300, 301, 640, 999]), causal: true },
  { name: 'docs: 260x200 zigzag rank 1 <- rank 0, D 33', heads: 4, kvHeads: 2, headDim: 33, ...packed(zigzag(1, 2, 520), zigzag(0, 2, 400), [0, 100, 129, 260, 390]), causal: true },
  { name: 'docs: 300x300 non-causal D 64, documents inside row groups (key windows from id ranges)', heads: 2, kvHeads: 1, headDim: 64, ...packed(contiguous(0, 300), contiguous(0, 300), [0, 10, 50, 61, 170, 230]), causal: false },
  { name: 'docs: 400x400 striped rank 0 <- rank 1, documents of 90, 1, 300, 409', ...gqa, ...packed(striped(0, 2, 800), striped(1, 2, 800), [0, 90, 91, 391]), causal: true },
  { name: 'docs: 300x300 descending positions and ids', heads: 2, kvHeads: 2, headDim: 16, ...packed(descending(300), descending(300), [0, 70, 71, 200]), causal: true },
];

/** Runs the kernel's forward, then its backward with its own out/lse as the global ones. */
async function runKernel(kernel: AttentionKernel, spec: ProblemSpec) {
  const p = makeProblem(spec);
  const inputs = toBlockInputs(p);
  const fwd = kernel.forward(inputs);
  const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
  const grads = kernel.backward({ ...inputs, dout, out: fwd.out, lse: fwd.lse });
  const got = {
    out: await readHeadMajor(fwd.out),
    lse: await readHeadMajor2D(fwd.lse),
    dq: await readHeadMajor(grads.dq),
    dk: await readHeadMajor(grads.dk),
    dv: await readHeadMajor(grads.dv),
  };
  tf.dispose([fwd.out, fwd.lse, dout, grads.dq, grads.dk, grads.dv]);
  disposeBlockInputs(inputs);
  return { p, got };
}

/** The reference is the slow part; a test file that runs several kernels computes it once per case. */
const referenceCache = new Map<string, { ref: ReferenceForward<Float32Array>; grads: ReferenceGrads<Float32Array> }>();

function reference(name: string, p: ReferenceInputs & { dout: Float32Array }) {
  let r = referenceCache.get(name);
  if (r === undefined) {
    r = { ref: referenceForward(p), grads: referenceBackward(p) };
    referenceCache.set(name, r);
  }
  return r;
}

export interface SuiteOptions {
  /**
   * Makes the kernel's backend active (default: the cpu backend). A kernel on another backend
   * brings its own; a setup that throws fails every test, so a backend that was asked for but
   * does not start is a failure, not a skip. The cpu backend is restored afterwards.
   */
  setup?: () => Promise<void>;
}

/**
 * Declares the suite for one kernel. With `kernel` null the whole suite is declared skipped and
 * its title carries `skipReason`, so a missing backend shows up in the report, never as a pass.
 * Results are read asynchronously only, as GPU backends require.
 */
export function describeAttentionKernel(title: string, kernel: AttentionKernel | null, skipReason?: string, options: SuiteOptions = {}): void {
  const describeOrSkip = kernel === null ? describe.skip : describe;
  const k = (): AttentionKernel => {
    if (kernel === null) throw new Error(`unreachable: ${title} is skipped`);
    return kernel;
  };
  describeOrSkip(kernel === null ? `${title} [skipped: ${skipReason ?? 'unavailable'}]` : title, () => {
    const { setup } = options;
    beforeAll(() => (setup ? setup() : ensureCpuBackend({ quiet: true })));
    if (setup) afterAll(() => ensureCpuBackend({ quiet: true }));

    test.each(attentionCases)('$name', async (spec) => {
      const { p, got } = await runKernel(k(), spec);
      const { ref, grads: refGrads } = reference(spec.name, p);
      expectClose('out', got.out, ref.out);
      expectClose('lse', got.lse, ref.lse);
      expectClose('dq', got.dq, refGrads.dq);
      expectClose('dk', got.dk, refGrads.dk);
      expectClose('dv', got.dv, refGrads.dv);
    });

    test.each(documentCases)('$name', async (spec) => {
      const { p, got } = await runKernel(k(), spec);
      const { ref, grads: refGrads } = reference(spec.name, p);
      expectClose('out', got.out, ref.out);
      expectClose('lse', got.lse, ref.lse);
      expectClose('dq', got.dq, refGrads.dq);
      expectClose('dk', got.dk, refGrads.dk);
      expectClose('dv', got.dv, refGrads.dv);
      expect([got.out, got.dq, got.dk, got.dv].every((a) => a.every((x) => !Number.isNaN(x)))).toBe(true);
    });

    test.each([
      ['ids apart, causal', contiguous(20, 9), contiguous(0, 11), Int32Array.from({ length: 9 }, () => 5), Int32Array.from({ length: 11 }, () => 4), true],
      ['ids apart, non-causal', contiguous(0, 7), contiguous(0, 9), Int32Array.from({ length: 7 }, () => -3), Int32Array.from({ length: 9 }, () => 8), false],
      ['interleaved id ranges, no id shared', contiguous(0, 8), contiguous(0, 9), Int32Array.from({ length: 8 }, (_, i) => 1 + 2 * (i % 2)), Int32Array.from({ length: 9 }, (_, i) => 2 * (i % 3)), false],
      // The one shared document (1) has its keys after all of its queries.
      ['shared document only in the future', contiguous(0, 7), contiguous(0, 9), Int32Array.from({ length: 7 }, () => 1), Int32Array.from({ length: 9 }, (_, j) => (j >= 7 ? 1 : 0)), true],
    ])('fully masked by documents: %s (none: out 0, lse -inf, zero grads)', async (_name, posQ, posK, docQ, docK, causal) => {
      expect(blockVisibility(posQ, posK, causal, docQ, docK)).toBe('none');
      const { got } = await runKernel(k(), { ...gqa, posQ, posK, docQ, docK, causal });
      expectAllEqual('lse', got.lse, -Infinity);
      expectAllEqual('out', got.out, 0);
      expectAllEqual('dq', got.dq, 0);
      expectAllEqual('dk', got.dk, 0);
      expectAllEqual('dv', got.dv, 0);
    });

    test('docs: rows whose document has no key here get out 0, lse -inf, zero grads; the others are finite', async () => {
      // Queries 0..9 in document 0 (keys 0..4), queries 10..19 in document 9 (no keys).
      const posQ = contiguous(0, 20);
      const posK = contiguous(0, 12);
      const docQ = Int32Array.from(posQ, (x) => (x < 10 ? 0 : 9));
      const docK = Int32Array.from(posK, (x) => (x < 5 ? 0 : 3));
      const { p, got } = await runKernel(k(), { ...mqa, posQ, posK, docQ, docK, causal: true });
      const H = p.heads;
      const D = p.headDim;
      expectAllEqual('lse of rows 10..19', got.lse.subarray(10 * H), -Infinity);
      expectAllEqual('out of rows 10..19', got.out.subarray(10 * H * D), 0);
      expectAllEqual('dq of rows 10..19', got.dq.subarray(10 * H * D), 0);
      expectAllEqual('dk of keys 5..11 (document 3)', got.dk.subarray(5 * p.kvHeads * D), 0);
      expectAllEqual('dv of keys 5..11 (document 3)', got.dv.subarray(5 * p.kvHeads * D), 0);
      expect(got.lse.subarray(0, 10 * H).every(Number.isFinite)).toBe(true);
      expect([got.out, got.dq, got.dk, got.dv].every((a) => a.every((x) => !Number.isNaN(x)))).toBe(true);
    });

    test('docs: one document for the whole block gives exactly the result without documents', async () => {
      const base: ProblemSpec = { ...gqa, posQ: striped(1, 2, 300), posK: striped(0, 2, 300), causal: true, seed: 5 };
      const one = (n: number) => new Int32Array(n).fill(77);
      const plain = await runKernel(k(), base);
      const withDocs = await runKernel(k(), { ...base, docQ: one(base.posQ.length), docK: one(base.posK.length) });
      for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) expect(Array.from(withDocs.got[key])).toEqual(Array.from(plain.got[key]));
    });

    test('docs: one side without the other, or of the wrong length, is refused with KERNEL_SHAPE', () => {
      const q = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const kv = tf.zeros([1, 5, 4]) as tf.Tensor3D;
      const base = { q, k: kv, v: kv, posQ: contiguous(0, 3), posK: contiguous(0, 5), causal: true, scale: 1 };
      const only = () => k().forward({ ...base, docQ: new Int32Array(3) });
      expect(only).toThrow(RingtrainError);
      expect(only).toThrow(/docQ and docK/);
      expect(() => k().forward({ ...base, docK: new Int32Array(5) })).toThrow(/docQ and docK/);
      const short = () => k().forward({ ...base, docQ: new Int32Array(3), docK: new Int32Array(4) });
      expect(short).toThrow(RingtrainError);
      expect(short).toThrow(/docQ\/docK lengths/);
      const lse = tf.zeros([2, 3]) as tf.Tensor2D;
      expect(() => k().backward({ ...base, docQ: new Int32Array(2), docK: new Int32Array(5), dout: q, out: q, lse })).toThrow(/docQ\/docK lengths/);
      tf.dispose([q, kv, lse]);
    });

    test('rows that see no key: out 0, lse -inf, zero grads (partial block)', async () => {
      // Striped rank 0 against rank 3: query 0 precedes every key, the others see some.
      const { p, got } = await runKernel(k(), { ...mqa, posQ: striped(0, 4, 40), posK: striped(3, 4, 40), causal: true });
      const H = p.heads;
      const D = p.headDim;
      expectAllEqual('lse of row 0', got.lse.subarray(0, H), -Infinity);
      expectAllEqual('out of row 0', got.out.subarray(0, H * D), 0);
      expectAllEqual('dq of row 0', got.dq.subarray(0, H * D), 0);
      expect(got.lse.subarray(H).every(Number.isFinite)).toBe(true);
      expect([got.out, got.dq, got.dk, got.dv].every((a) => a.every((x) => !Number.isNaN(x)))).toBe(true);
    });

    test.each([
      ['query block entirely before the key block', contiguous(0, 7), contiguous(100, 129)],
      ['empty key block (uneven shard)', contiguous(0, 7), contiguous(0, 0)],
      ['empty query block (uneven shard)', contiguous(0, 0), contiguous(0, 7)],
    ])('fully masked: %s', async (_name, posQ, posK) => {
      const { got } = await runKernel(k(), { ...gqa, posQ, posK, causal: true });
      expectAllEqual('lse', got.lse, -Infinity);
      expectAllEqual('out', got.out, 0);
      expectAllEqual('dq', got.dq, 0);
      expectAllEqual('dk', got.dk, 0);
      expectAllEqual('dv', got.dv, 0);
    });

    test('backward with a global lse of -inf gives zero grads even where the block has keys', async () => {
      const p = makeProblem({ ...gqa, posQ: contiguous(0, 9), posK: contiguous(0, 9), causal: false });
      const inputs = toBlockInputs(p);
      const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
      const out = tf.zerosLike(inputs.q);
      const lse = tf.fill([p.heads, p.seqQ], -Infinity) as tf.Tensor2D;
      const g = k().backward({ ...inputs, dout, out, lse });
      expectAllEqual('dq', await g.dq.data(), 0);
      expectAllEqual('dk', await g.dk.data(), 0);
      expectAllEqual('dv', await g.dv.data(), 0);
      tf.dispose([dout, out, lse, g.dq, g.dk, g.dv]);
      disposeBlockInputs(inputs);
    });

    test('leaks no tensors: returns exactly what the caller must dispose', () => {
      const p = makeProblem({ ...gqa, posQ: striped(1, 2, 30), posK: striped(0, 2, 30), causal: true });
      const inputs = toBlockInputs(p);
      const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
      const before = tf.memory().numTensors;
      const fwd = k().forward(inputs);
      const g = k().backward({ ...inputs, dout, out: fwd.out, lse: fwd.lse });
      expect(tf.memory().numTensors).toBe(before + 5);
      tf.dispose([fwd.out, fwd.lse, g.dq, g.dk, g.dv]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(dout);
      disposeBlockInputs(inputs);
    });

    test('rejects inconsistent shapes with KERNEL_SHAPE', () => {
      const q = tf.zeros([6, 3, 4]) as tf.Tensor3D;
      const kk = tf.zeros([4, 5, 4]) as tf.Tensor3D; // 6 heads are not a multiple of 4 kv heads
      const call = () => k().forward({ q, k: kk, v: kk, posQ: contiguous(0, 3), posK: contiguous(0, 5), causal: true, scale: 1 });
      expect(call).toThrow(RingtrainError);
      expect(call).toThrow(/multiple of kvHeads/);
      const lse = toHeadMajor2D(new Float32Array(3 * 6), 3, 6);
      const k2 = tf.zeros([3, 5, 4]) as tf.Tensor3D;
      const badLse = tf.zeros([6, 2]) as tf.Tensor2D;
      expect(() =>
        k().backward({ q, k: k2, v: k2, posQ: contiguous(0, 3), posK: contiguous(0, 5), causal: true, scale: 1, dout: q, out: q, lse: badLse }),
      ).toThrow(/lse must be/);
      tf.dispose([q, kk, k2, lse, badLse]);
    });
  });
}
