import { SeededRandom } from '@ringtrain/core';
import { errorStats, referenceBackward, referenceForward, tfjsKernel } from '@ringtrain/kernels';
import { LAYOUT_NAMES, gatherRows, makeLayout, shardRows, type LayoutName } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { makeProblem } from '../attention/problem';
import { runAttentionShard, type ShardResults } from '../attention/run-shard';
import { hybridStrategy, memberKvHeads } from './hybrid';
import { getStrategy } from './registry';
import type { Strategy } from './types';

/**
 * Hybrid (Ulysses inside groups of U, a ring across the P/U groups) in one process over the
 * in-memory transport, against the single-process reference: output and every gradient.
 */
interface Case {
  P: number;
  U: number;
  ringLayout: LayoutName;
  S: number;
  H: number;
  Hkv: number;
  D: number;
  causal: boolean;
  docs?: boolean;
}

async function run(strategy: Strategy, c: Case, layout = makeLayout(c.ringLayout, c.S, c.P, c.U)) {
  const { P, S, H, Hkv, D, causal } = c;
  const problem = makeProblem({ seqLen: S, heads: H, kvHeads: Hkv, headDim: D, causal });
  const rng = new SeededRandom(S * 31 + P * 7 + H + c.U);
  const x = { q: rng.normalArray(S * H * D), k: rng.normalArray(S * Hkv * D), v: rng.normalArray(S * Hkv * D), dout: rng.normalArray(S * H * D) };
  // Documents: runs of 1..9 tokens, so boundaries fall inside and between shards.
  const doc = c.docs ? Int32Array.from({ length: S }, (_, i) => Math.floor(Math.sqrt(i * 5))) : undefined;
  const pos = Int32Array.from({ length: S }, (_, i) => i);
  const dims = { seqQ: S, seqK: S, heads: H, kvHeads: Hkv, headDim: D, posQ: pos, posK: pos, causal, scale: problem.scale, ...(doc ? { docQ: doc, docK: doc } : {}) };
  const ref = referenceForward({ ...x, ...dims });
  const refGrads = referenceBackward({ ...x, ...dims });
  const world = createInMemoryWorld(P);
  const results: ShardResults[] = await Promise.all(
    world.map((transport, r) => {
      const positions = layout.positions(r);
      return runAttentionShard({ transport, kernel: tfjsKernel }, strategy, problem, {
        q: shardRows(layout, x.q, H * D, r),
        k: shardRows(layout, x.k, Hkv * D, r),
        v: shardRows(layout, x.v, Hkv * D, r),
        dout: shardRows(layout, x.dout, H * D, r),
        pos: positions,
        doc: doc ? Int32Array.from(positions, (p) => doc[p]) : undefined,
      }, 'test');
    }),
  );
  const gather = (pick: (r: ShardResults) => Float32Array, rowSize: number) => gatherRows(layout, results.map(pick), rowSize);
  const out = gather((r) => r.out, H * D);
  const dq = gather((r) => r.dq, H * D);
  const dk = gather((r) => r.dk, Hkv * D);
  const dv = gather((r) => r.dv, Hkv * D);
  return {
    values: { out, dq, dk, dv },
    errors: { out: errorStats(out, ref.out).rel, dq: errorStats(dq, refGrads.dq).rel, dk: errorStats(dk, refGrads.dk).rel, dv: errorStats(dv, refGrads.dv).rel },
  };
}

function expectExact(errors: Record<string, number>): void {
  for (const [tensor, rel] of Object.entries(errors)) expect({ tensor, rel: rel < 1e-5 }).toEqual({ tensor, rel: true });
}

describe('hybrid over the in-memory transport matches the reference', () => {
  // P = 4 (2 × 2), P = 6 (2 groups of 3 and 3 groups of 2), every ring layout, causal and not, S not dividing.
  const grid: Array<[number, number]> = [[4, 2], [6, 2], [6, 3]];
  const cases = grid.flatMap(([P, U]) => LAYOUT_NAMES.flatMap((ringLayout) => [true, false].map((causal) => [P, U, ringLayout, causal] as const)));

  it.each(cases)('P=%i U=%i ring layout %s causal=%s (S=37, H=6, Hkv=2, D=4)', async (P, U, ringLayout, causal) => {
    const { errors } = await run(hybridStrategy(U, ringLayout), { P, U, ringLayout, S: 37, H: 6, Hkv: 2, D: 4, causal });
    expectExact(errors);
  });

  it.each([
    ['MHA', 4, 2, 8, 8],
    ['MQA', 6, 3, 6, 1],
    ['K/V heads fewer than U (replicated across the group)', 6, 3, 3, 1],
    ['K/V groups that cut through a rank\'s heads (replicated inside a rank)', 4, 2, 6, 3],
    ['K/V heads split evenly over the group', 6, 2, 4, 2],
  ] as const)('GQA: %s (P=%i U=%i H=%i Hkv=%i, S=29)', async (_what, P, U, H, Hkv) => {
    for (const ringLayout of ['zigzag', 'striped'] as const) {
      const { errors } = await run(hybridStrategy(U, ringLayout), { P, U, ringLayout, S: 29, H, Hkv, D: 4, causal: true });
      expectExact(errors);
    }
  });

  it('packed documents (P=6 U=3, zigzag)', async () => {
    const { errors } = await run(hybridStrategy(3, 'zigzag'), { P: 6, U: 3, ringLayout: 'zigzag', S: 41, H: 6, Hkv: 2, D: 4, causal: true, docs: true });
    expectExact(errors);
  });

  it('the two-axis path holds at U = 1 and U = P too', async () => {
    for (const U of [1, 4]) {
      const { errors } = await run(hybridStrategy(U, 'striped', { alwaysTwoAxes: true }), { P: 4, U, ringLayout: 'striped', S: 23, H: 4, Hkv: 2, D: 4, causal: true });
      expectExact(errors);
    }
  });

  it('U = 1 is the ring (any ring layout) and U = P is Ulysses, value for value', async () => {
    for (const ringLayout of LAYOUT_NAMES) {
      const c = { P: 4, U: 1, ringLayout, S: 23, H: 4, Hkv: 2, D: 4, causal: true };
      const hybrid = await run(hybridStrategy(1, ringLayout), c);
      const plain = await run(getStrategy(ringLayout === 'contiguous' ? 'ring' : ringLayout), c, makeLayout(ringLayout, 23, 4));
      expect(hybrid.values).toEqual(plain.values);
    }
    const c = { P: 4, U: 4, ringLayout: 'zigzag' as const, S: 23, H: 4, Hkv: 2, D: 4, causal: true };
    const hybrid = await run(hybridStrategy(4, 'zigzag'), c);
    const ulysses = await run(getStrategy('ulysses'), c, makeLayout('contiguous', 23, 4));
    expect(hybrid.values).toEqual(ulysses.values);
  });

  it('gives each rank the K/V heads its query heads use', () => {
    const p = (heads: number, kvHeads: number) => makeProblem({ seqLen: 8, heads, kvHeads, headDim: 4, causal: true });
    expect([0, 1, 2].map((j) => memberKvHeads(p(6, 2), 3, j))).toEqual([[0], [0, 1], [1]]);
    expect([0, 1].map((j) => memberKvHeads(p(6, 3), 2, j))).toEqual([[0, 0, 1], [1, 2, 2]]);
    expect([0, 1].map((j) => memberKvHeads(p(4, 4), 2, j))).toEqual([[0, 1], [2, 3]]);
    expect([0, 1, 2].map((j) => memberKvHeads(p(6, 1), 3, j))).toEqual([[0], [0], [0]]);
  });

  it('refuses a degree that does not fit, naming the option, the value and the nearest that work', () => {
    const problem = makeProblem({ seqLen: 16, heads: 6, kvHeads: 2, headDim: 8, causal: true });
    expect(() => hybridStrategy(4, 'contiguous').checkProblem(problem, 6)).toThrow(/--ulysses-degree 4 does not divide --workers 6/);
    expect(() => hybridStrategy(4, 'contiguous').checkProblem(problem, 6)).toThrow(expect.objectContaining({ code: 'HYBRID_DEGREE', hint: expect.stringMatching(/use --ulysses-degree 3 \(the degrees that divide both --workers 6 and --heads 6: 1, 2, 3, 6\)/) }));
    expect(() => hybridStrategy(8, 'contiguous').checkProblem(problem, 6)).toThrow(/R = 6\/8 = 0 groups/);
    const odd = makeProblem({ seqLen: 16, heads: 4, kvHeads: 2, headDim: 8, causal: true });
    expect(() => hybridStrategy(3, 'contiguous').checkProblem(odd, 6)).toThrow(expect.objectContaining({ code: 'ULYSSES_HEADS', hint: expect.stringMatching(/use --ulysses-degree 2 /) }));
    expect(() => getStrategy('hybrid')).toThrow(/needs a Ulysses degree/);
  });
});
