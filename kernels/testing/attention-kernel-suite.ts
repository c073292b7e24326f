/**
 * One test suite for every AttentionKernel (tfjs ops, native OpenBLAS build, native portable
 * build): the same cases against the float64 reference. Used by the kernels' tests only.
 */
import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import { ensureCpuBackend } from '../src/backend';
import { readHeadMajor, readHeadMajor2D, toHeadMajor, toHeadMajor2D } from '../src/layout-convert';
import { referenceBackward, referenceForward, type ReferenceForward, type ReferenceGrads, type ReferenceInputs } from '../src/reference';
import {
  contiguous,
  disposeBlockInputs,
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
