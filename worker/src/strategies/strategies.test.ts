import { SeededRandom } from '@ringtrain/core';
import { errorStats as compareArrays, referenceBackward, referenceForward, tfjsKernel } from '@ringtrain/kernels';
import { gatherRows, makeLayout, shardRows } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { makeProblem } from '../attention/problem';
import { runAttentionShard } from '../attention/run-shard';
import { getStrategy, STRATEGY_NAMES } from './registry';

/**
 * Every strategy on every world size, in one process over the in-memory transport, against
 * the single-process reference: forward output and every gradient.
 */
function runCase(strategyName: string, P: number, S: number, H: number, Hkv: number, D: number, causal: boolean) {
  const strategy = getStrategy(strategyName);
  const problem = makeProblem({ seqLen: S, heads: H, kvHeads: Hkv, headDim: D, causal });
  const rng = new SeededRandom(S * 31 + P * 7 + H);
  const q = rng.normalArray(S * H * D);
  const k = rng.normalArray(S * Hkv * D);
  const v = rng.normalArray(S * Hkv * D);
  const dout = rng.normalArray(S * H * D);
  const pos = Int32Array.from({ length: S }, (_, i) => i);
  const dims = { seqQ: S, seqK: S, heads: H, kvHeads: Hkv, headDim: D, posQ: pos, posK: pos, causal, scale: problem.scale };
  const ref = referenceForward({ q, k, v, ...dims });
  const refGrads = referenceBackward({ q, k, v, dout, ...dims });

  const layout = makeLayout(strategy.layout, S, P);
  const world = createInMemoryWorld(P);
  return Promise.all(
    world.map((transport, r) =>
      runAttentionShard({ transport, kernel: tfjsKernel }, strategy, problem, {
        q: shardRows(layout, q, H * D, r),
        k: shardRows(layout, k, Hkv * D, r),
        v: shardRows(layout, v, Hkv * D, r),
        dout: shardRows(layout, dout, H * D, r),
        pos: layout.positions(r),
      }, 'test'),
    ),
  ).then((results) => ({
    out: compareArrays(gatherRows(layout, results.map((x) => x.out), H * D), ref.out),
    dq: compareArrays(gatherRows(layout, results.map((x) => x.dq), H * D), refGrads.dq),
    dk: compareArrays(gatherRows(layout, results.map((x) => x.dk), Hkv * D), refGrads.dk),
    dv: compareArrays(gatherRows(layout, results.map((x) => x.dv), Hkv * D), refGrads.dv),
  }));
}

describe('strategies over the in-memory transport match the reference', () => {
  // hybrid takes a degree of its own: hybrid.test.ts.
  const cases = STRATEGY_NAMES.filter((name) => name !== 'hybrid').flatMap((name) =>
    [1, 2, 3, 4].flatMap((P) =>
      [true, false].map((causal) => [name, P, causal] as const),
    ),
  ).filter(([name, P]) => name !== 'ulysses' || 4 % P === 0);

  it.each(cases)('%s P=%i causal=%s (S=23, H=4, Hkv=2, D=8)', async (name, P, causal) => {
    const errors = await runCase(name, P, 23, 4, 2, 8, causal);
    for (const [tensor, e] of Object.entries(errors)) {
      expect({ tensor, maxRel: e.rel }).toEqual({ tensor, maxRel: expect.any(Number) });
      expect(e.rel).toBeLessThan(1e-5);
    }
  });

  it.each(['ring', 'striped', 'zigzag', 'rsa', 'ulysses'])('%s handles MQA and a sequence that does not divide (S=19, P=4 or 2)', async (name) => {
    const P = name === 'ulysses' ? 2 : 4;
    const errors = await runCase(name, P, 19, 4, 1, 5, true);
    for (const e of Object.values(errors)) expect(e.rel).toBeLessThan(1e-5);
  });

  it('ulysses with fewer K/V heads than ranks sums the replicated dK/dV', async () => {
    const errors = await runCase('ulysses', 4, 21, 8, 2, 4, true);
    for (const e of Object.values(errors)) expect(e.rel).toBeLessThan(1e-5);
  });

  it('ulysses refuses heads that do not split, naming the options', () => {
    const problem = makeProblem({ seqLen: 16, heads: 4, kvHeads: 4, headDim: 8, causal: true });
    expect(() => getStrategy('ulysses').checkProblem(problem, 3)).toThrow(/--heads 4 does not divide by --workers 3/);
  });

  it('refuses an unknown strategy with the valid names', () => {
    expect(() => getStrategy('ringg')).toThrow(/unknown strategy "ringg"/);
  });
});
