import { estimateAttentionCheckMemory } from '@ringtrain/config';
import { simulateStep, type Link } from '../bench/sim-model';
import { rankPlan, type PlanInput } from './rank';

/**
 * The ranking pinned on the model's own numbers: every row is simulateStep's estimate and
 * libs/config's memory, sorted by step time with those that fit first; the reasons name the
 * term that loses. GQA layer: H 32, Hkv 8, D 128; 100 GbE (12.5 GB/s, 10 µs); 200 TFLOP/s.
 */
const ethernet: Link = { name: '100 GbE', bytesPerSec: 12.5e9, latencySec: 10e-6 };
const layer = { heads: 32, kvHeads: 8, headDim: 128, causal: true };
const TiB = 2 ** 40;
const plenty = 4 * TiB; // rsa at S = 128K, P = 8 needs 1.8 TiB

function input(workers: number, seqLen: number, change: Partial<PlanInput> = {}): PlanInput {
  return { problem: { ...layer, workers, seqLen }, link: ethernet, flopsPerSec: 200e12, memoryPerRankBytes: plenty, model: null, ...change };
}

describe('rankPlan', () => {
  it('P = 8, S = 128K: every candidate once (hybrid at U = 2 and 4, best layout), sorted, striped first; rows are the model', () => {
    const plan = rankPlan(input(8, 131072));
    expect(plan.rows.map((r) => r.label)).toEqual(['striped', 'zigzag', 'hybrid U=2 striped', 'hybrid U=4 striped', 'ulysses', 'rsa', 'ring']);
    expect(plan.winner?.label).toBe('striped');
    const striped = plan.rows[0];
    expect(striped.estimate).toEqual(simulateStep('striped', input(8, 131072).problem, ethernet, 200e12));
    expect(striped.memory!.bytes).toBe(estimateAttentionCheckMemory({ ...layer, seqLen: 131072, workers: 8, strategies: ['striped'], backend: 'native' }).perWorkerBytes);
    const hybrid4 = plan.rows.find((r) => r.label === 'hybrid U=4 striped')!;
    expect(hybrid4.estimate).toEqual(simulateStep('hybrid', input(8, 131072).problem, ethernet, 200e12, { ulyssesDegree: 4, ringLayout: 'striped' }));
    const steps = plan.rows.map((r) => (r.estimate.feasible ? r.estimate.stepSec : Infinity));
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
  });

  it('says why each loser loses, from the term that differs', () => {
    const why = Object.fromEntries(rankPlan(input(8, 131072)).rows.map((r) => [r.label, r.why]));
    expect(why.striped).toBeNull();
    expect(why.zigzag).toMatch(/^ties with striped/);
    expect(why.ring).toMatch(/^causal imbalance: its last rank computes ~8 blocks while striped's compute ~4: critical-path compute 577 ms against 308 ms \(8\d% slower than striped\)$/);
    expect(why.ulysses).toMatch(/^exposed communication 23% of its step .*all-to-alls over 8 ranks are not overlapped/);
    expect(why['hybrid U=2 striped']).toMatch(/all-to-alls inside groups of 2 are not overlapped/);
    expect(why.rsa).toMatch(/^computes every score block, the masked half too/);
  });

  it('S/P = 64 tokens on 100 GbE: communication sets the step and the sentence says from how many tokens it hides', () => {
    const plan = rankPlan(input(512, 32768));
    const zigzag = plan.rows.find((r) => r.label === 'zigzag')!;
    expect(zigzag.why ?? '').toMatch(/S\/P = 64 tokens \(half blocks under the mask\) hide a 100 GbE transfer only from 1601\d tokens/);
  });

  it('a memory limit: what does not fit goes below what does, with the reason; rsa names its stored probabilities', () => {
    const plan = rankPlan(input(8, 131072, { memoryPerRankBytes: 3.3 * 2 ** 30 }));
    const fits = plan.rows.filter((r) => r.fits).map((r) => r.label);
    expect(fits).toEqual(['striped', 'zigzag', 'ring']);
    expect(plan.rows.at(-1)!.why).toMatch(/^stores 256 GiB of probabilities per rank/);
    expect(plan.rows.find((r) => r.label === 'ulysses')!.why).toMatch(/^needs 3\.4 GiB per rank \(most of it shard tensors: .*\), over the 3\.3 GiB a rank has$/);
  });

  it('heads that do not split: Ulysses cannot run, hybrid only at the degrees that divide both', () => {
    const plan = rankPlan(input(8, 65536, { problem: { workers: 8, seqLen: 65536, heads: 28, kvHeads: 4, headDim: 128, causal: true } }));
    expect(plan.rows.at(-1)).toMatchObject({ label: 'ulysses', why: 'cannot run: needs heads divisible by P (H = 28)' });
    expect(plan.rows.filter((r) => r.candidate.strategy === 'hybrid').map((r) => r.candidate.hybrid!.ulyssesDegree).sort()).toEqual([2, 4]);
  });

  it('--ulysses-degree restricts hybrid to that degree', () => {
    const labels = rankPlan(input(8, 65536, { ulyssesDegree: 2 })).rows.map((r) => r.label);
    expect(labels.filter((l) => l.startsWith('hybrid'))).toEqual(['hybrid U=2 striped']);
  });
});
