import { hiddenFromTokens, hybridKvHeads, LINK_PRESETS, rateWhenBusy, simulateStep, type Link, type SimProblem, type StepEstimate } from './sim-model';

/**
 * The projection's formulas pinned on cases worked out by hand (numbers below are written out,
 * not recomputed with the model). Common case: b = S/P = 1024 tokens, H = Hkv = 1, D = 64,
 * F = 100 GFLOP/s, β = 1 GB/s, α = 0. Then:
 *   cF = 4·1024²·64 / 1e11 = 2.68435456e-3 s     cB = 2.5·cF = 6.7108864e-3 s
 *   kv = 2·1024·64·4 = 524288 B -> T(kv) = 5.24288e-4 s, T(2kv) = 1.048576e-3 s
 */
const F = 1e11;
const fast: Link = { name: 'test', bytesPerSec: 1e9, latencySec: 0 };
const slow: Link = { name: 'slow', bytesPerSec: 1e8, latencySec: 0 };
const one = { heads: 1, kvHeads: 1, headDim: 64 };

function feasible(e: StepEstimate) {
  if (!e.feasible) throw new Error(`expected a feasible estimate, got: ${e.reason}`);
  return e;
}

function problem(workers: number, seqLen: number, causal: boolean, dims = one): SimProblem {
  return { workers, seqLen, causal, ...dims };
}

describe('simulateStep', () => {
  it('ring, not causal, P=2: compute hides the K/V transfer; the last dK/dV hop does not', () => {
    const e = feasible(simulateStep('ring', problem(2, 2048, false), fast, F));
    // forward: max(cF, T(kv)) + cF; backward: max(cB, T(kv)) + cB + T(kv)
    expect(e.forwardSec).toBeCloseTo(5.36870912e-3, 12);
    expect(e.backwardSec).toBeCloseTo(1.39460608e-2, 12);
    expect(e.stepSec).toBeCloseTo(1.931476992e-2, 12);
    expect(e.computeSec).toBeCloseTo(1.879048192e-2, 12);
    expect(e.exposedCommSec).toBeCloseTo(5.24288e-4, 12);
    expect(e.bytesSentPerRank).toBe(1572864); // K/V forward 1 hop, backward 1 hop, dK/dV 1 hop
    expect(e.efficiency).toBeCloseTo(1.879048192e-2 / 1.931476992e-2, 9);
  });

  it('ring, not causal, P=2 on a slow link: the transfer sets the step', () => {
    const e = feasible(simulateStep('ring', problem(2, 2048, false), slow, F));
    // T(kv) = 5.24288e-3 > cF but < cB (step 0 of backward moves only K/V)
    expect(e.forwardSec).toBeCloseTo(5.24288e-3 + 2.68435456e-3, 12);
    expect(e.backwardSec).toBeCloseTo(6.7108864e-3 + 6.7108864e-3 + 5.24288e-3, 12);
    // P=3: backward step 1 moves K/V and an accumulator, T(2kv) = 1.048576e-2 > cB
    const p3 = feasible(simulateStep('ring', problem(3, 3072, false), slow, F));
    expect(p3.backwardSec).toBeCloseTo(6.7108864e-3 + 1.048576e-2 + 6.7108864e-3 + 5.24288e-3, 12);
  });

  it('causal P=4: ring walks ~P blocks on its critical path, striped and zigzag ~P/2', () => {
    const ring = feasible(simulateStep('ring', problem(4, 4096, true), fast, F));
    // f = [1/2, 1, 1, 1]: forward 3.5·cF, backward 3.5·cB + T(kv)
    expect(ring.forwardSec).toBeCloseTo(9.39524096e-3, 12);
    expect(ring.backwardSec).toBeCloseTo(2.40123904e-2, 12);
    for (const name of ['striped', 'zigzag'] as const) {
      const e = feasible(simulateStep(name, problem(4, 4096, true), fast, F));
      // f = 1/2 every step: forward 2·cF, backward 2·cB + T(kv)
      expect(e.forwardSec).toBeCloseTo(5.36870912e-3, 12);
      expect(e.backwardSec).toBeCloseTo(1.39460608e-2, 12);
    }
  });

  it('P=1 has no communication and is perfectly efficient', () => {
    const e = feasible(simulateStep('striped', problem(1, 1024, true), fast, F));
    expect(e.exposedCommSec).toBe(0);
    expect(e.bytesSentPerRank).toBe(0);
    expect(e.efficiency).toBeCloseTo(1, 12);
  });

  it('ulysses, not causal, P=2, H=Hkv=2: two all-to-alls each way, nothing overlapped', () => {
    const dims = { heads: 2, kvHeads: 2, headDim: 64 };
    const e = feasible(simulateStep('ulysses', problem(2, 2048, false, dims), fast, F));
    // q,k,v out: 1·1024·3·64·4 = 786432 B (7.86432e-4 s); o back: 262144 B (2.62144e-4 s)
    // compute forward 4·2048²·64·2 / (2·1e11) = 1.073741824e-2 s, backward 2.5× that
    expect(e.forwardSec).toBeCloseTo(7.86432e-4 + 1.073741824e-2 + 2.62144e-4, 12);
    expect(e.backwardSec).toBeCloseTo(2.62144e-4 + 2.68435456e-2 + 7.86432e-4, 12);
    expect(e.exposedCommSec).toBeCloseTo(2.097152e-3, 12);
    expect(e.bytesSentPerRank).toBe(2097152);
    // latency: (P-1)·α per all-to-all, four of them
    const withLatency = feasible(simulateStep('ulysses', problem(2, 2048, false, dims), { ...fast, latencySec: 1e-5 }, F));
    expect(withLatency.stepSec - e.stepSec).toBeCloseTo(4e-5, 12);
  });

  it('ulysses refuses head counts that do not split over P', () => {
    const e = simulateStep('ulysses', problem(8, 4096, true), fast, F);
    expect(e).toEqual({ strategy: 'ulysses', feasible: false, reason: 'needs heads divisible by P (H = 1)' });
  });

  it('rsa, P=2: full score blocks whatever the mask, probabilities kept (S²/P memory)', () => {
    for (const causal of [false, true]) {
      const e = feasible(simulateStep('rsa', problem(2, 2048, causal), fast, F));
      // one matmul 2·1024²·64/1e11 = 1.34217728e-3 s; K (or V) block 262144 B = 2.62144e-4 s
      expect(e.forwardSec).toBeCloseTo(5.36870912e-3, 12); // 2 circulations × 2 steps
      expect(e.backwardSec).toBeCloseTo(1.126170624e-2, 12); // 2 × 4 matmuls + T(2·262144 B)
      expect(e.scoreMemoryBytes).toBe(8388608); // 1 head · 1024 · 2048 · 4 B
      expect(e.bytesSentPerRank).toBe(1572864); // K and V: 2 + 2 hops; dK and dV: 2 hops
    }
  });
});

describe('ranks sharing a machine: a kernel rate alone and with every rank busy', () => {
  const shared = { alone: 1e11, allBusy: 5e10 };

  it('interpolates time per FLOP between the two measured ends', () => {
    expect(rateWhenBusy(shared, 1, 4)).toBe(1e11);
    expect(rateWhenBusy(shared, 4, 4)).toBeCloseTo(5e10, 3);
    expect(rateWhenBusy(shared, 2, 3)).toBeCloseTo(1 / 1.5e-11, 0); // halfway in time per FLOP
    expect(rateWhenBusy(7e10, 1, 8)).toBe(7e10);
  });

  it('causal ring, P = 2: step 0 both ranks busy, step 1 rank 1 alone', () => {
    const e = feasible(simulateStep('ring', problem(2, 2048, true), fast, shared));
    // step 0: half a block at 5e10 (cF 5.36870912e-3 s, cB 1.34217728e-2 s); step 1: a whole block at 1e11
    // forward = 0.5·5.36870912e-3 + 2.68435456e-3; backward = 0.5·1.34217728e-2 + 6.7108864e-3 + T(kv)
    expect(e.forwardSec).toBeCloseTo(5.36870912e-3, 12);
    expect(e.backwardSec).toBeCloseTo(1.39460608e-2, 12);
    expect(e.efficiency).toBeCloseTo((0.5 * 1.879048192e-2) / 1.931476992e-2, 9); // against the alone rate
  });

  it('striped and Ulysses keep every rank busy: the all-busy rate throughout', () => {
    for (const name of ['striped', 'ulysses'] as const) {
      const p = problem(2, 2048, true, { heads: 2, kvHeads: 2, headDim: 64 });
      const both = feasible(simulateStep(name, p, fast, shared));
      const busy = feasible(simulateStep(name, p, fast, 5e10));
      expect(both.stepSec).toBeCloseTo(busy.stepSec, 12);
    }
  });
});

describe('simulateStep hybrid', () => {
  const gqa = { heads: 8, kvHeads: 2, headDim: 64 };
  /** An estimate without its strategy's name: U = 1 and U = P must match another strategy's numbers. */
  const numbers = (e: StepEstimate) => Object.fromEntries(Object.entries(feasible(e)).filter(([k]) => k !== 'strategy'));

  it('U = 1 is its ring layout\'s model, number for number', () => {
    for (const layout of ['ring', 'striped', 'zigzag'] as const) {
      for (const causal of [false, true]) {
        const p = problem(8, 8192, causal, gqa);
        const link = { ...slow, latencySec: 5e-6 };
        expect(numbers(simulateStep('hybrid', p, link, F, { ulyssesDegree: 1, ringLayout: layout }))).toEqual(numbers(simulateStep(layout, p, link, F)));
      }
    }
  });

  it('U = P is Ulysses, number for number (R = 1: one block, no ring transfer)', () => {
    for (const causal of [false, true]) {
      const p = problem(4, 4096, causal, gqa);
      const link = { ...fast, latencySec: 1e-5 };
      const hybrid = numbers(simulateStep('hybrid', p, link, F, { ulyssesDegree: 4, ringLayout: 'striped' }));
      const ulysses = numbers(simulateStep('ulysses', p, link, F));
      for (const key of ['forwardSec', 'backwardSec', 'stepSec', 'computeSec', 'exposedCommSec', 'efficiency', 'bytesSentPerRank']) expect(hybrid[key]).toBeCloseTo(ulysses[key] as number, 12);
    }
  });

  it('P = 4, U = 2, H = Hkv = 2, not causal: all-to-alls in the group, a ring of 2 blocks of 2048 tokens across', () => {
    const e = feasible(simulateStep('hybrid', problem(4, 4096, false, { heads: 2, kvHeads: 2, headDim: 64 }), fast, F, { ulyssesDegree: 2, ringLayout: 'ring' }));
    // b = 1024, each member 1 query head and 1 K/V head: q,k,v out 1·1024·3·64·4 = 786432 B
    // (7.86432e-4 s), o back 262144 B (2.62144e-4 s): 1.048576e-3 s of all-to-all each way.
    // Ring R = 2 on 2048-token blocks of one head: cF = 4·2048²·64/1e11 = 1.073741824e-2 s,
    // cB = 2.68435456e-2 s, kv = 2·2048·64·4 = 1048576 B (1.048576e-3 s).
    // forward = 1.048576e-3 + 2·cF; backward = 1.048576e-3 + 2·cB + T(kv)
    expect(e.forwardSec).toBeCloseTo(2.252341248e-2, 12);
    expect(e.backwardSec).toBeCloseTo(5.57842432e-2, 12);
    expect(e.computeSec).toBeCloseTo(7.516192768e-2, 12);
    expect(e.exposedCommSec).toBeCloseTo(3.145728e-3, 12);
    expect(e.bytesSentPerRank).toBe(5242880); // ring 3 × 1048576, all-to-alls 2 × (786432 + 262144)
  });

  it('counts the K/V heads each member really receives (replicated where the groups do not line up)', () => {
    expect(hybridKvHeads(8, 2, 2)).toBe(1);
    expect(hybridKvHeads(8, 2, 4)).toBe(1); // one head replicated to two members
    expect(hybridKvHeads(32, 8, 4)).toBe(2);
    expect(hybridKvHeads(6, 3, 2)).toBe(3); // member 0's heads 0, 1, 2 use K/V heads 0, 0, 1: one copy each
  });

  it('refuses degrees that do not divide P or the heads, and a missing degree', () => {
    expect(simulateStep('hybrid', problem(6, 6144, true, gqa), fast, F, { ulyssesDegree: 4, ringLayout: 'ring' })).toMatchObject({ feasible: false, reason: 'Ulysses degree 4 does not divide P = 6' });
    expect(simulateStep('hybrid', problem(6, 6144, true, gqa), fast, F, { ulyssesDegree: 3, ringLayout: 'ring' })).toMatchObject({ feasible: false, reason: 'heads 8 not divisible by the Ulysses degree 3' });
    expect(simulateStep('hybrid', problem(6, 6144, true, gqa), fast, F)).toMatchObject({ feasible: false });
  });
});

describe('hiddenFromTokens', () => {
  const dims = { ...one, causal: false };
  it('without latency: b* = k/a, forward the larger (ring 200, striped causal 400 tokens)', () => {
    // forward k = 2·64·4 / 1e9 = 5.12e-7 s/token, a = 4·64 / 1e11 = 2.56e-9 s/token²
    expect(hiddenFromTokens('ring', dims, fast, F)).toBeCloseTo(200, 9);
    expect(hiddenFromTokens('ring', { ...dims, causal: true }, fast, F)).toBeCloseTo(200, 9);
    expect(hiddenFromTokens('striped', { ...dims, causal: true }, fast, F)).toBeCloseTo(400, 9);
    expect(hiddenFromTokens('zigzag', { ...dims, causal: true }, fast, F)).toBeCloseTo(400, 9);
    expect(hiddenFromTokens('rsa', dims, fast, F)).toBeCloseTo(200, 9);
    expect(hiddenFromTokens('ulysses', dims, fast, F)).toBeNull();
  });

  it('with latency it solves a·b² = α + k·b (α = 10 µs -> 217.93 tokens)', () => {
    const b = hiddenFromTokens('ring', dims, { ...fast, latencySec: 1e-5 }, F)!;
    expect(b).toBeCloseTo(217.925, 2);
    expect(2.56e-9 * b * b).toBeCloseTo(1e-5 + 5.12e-7 * b, 12);
  });

  it('presets: NVLink 300 GB/s and 2 µs, 100 GbE 12.5 GB/s and 10 µs', () => {
    expect(LINK_PRESETS.nvlink).toMatchObject({ bytesPerSec: 300e9, latencySec: 2e-6 });
    expect(LINK_PRESETS['ethernet-100g']).toMatchObject({ bytesPerSec: 12.5e9, latencySec: 10e-6 });
  });
});
