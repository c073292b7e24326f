import { ulyssesSplitsHeads } from '@ringtrain/config';
import { makeProblem, memberKvHeads, type StrategyName } from '@ringtrain/worker';

/**
 * Step-time model of the strategies at scales this machine cannot run (`bench attention
 * --simulate`). One attention layer, forward + backward, one sequence.
 *
 * Symbols: P ranks, S tokens, b = S/P tokens per rank, H query heads, Hkv K/V heads, D head
 * dim, e = 4 bytes per element (fp32, as ringtrain sends), F = FLOP/s of one rank's attention
 * kernel (FLOP model in flops.ts), a link of latency α s and bandwidth β bytes/s per rank,
 * T(x) = α + x/β for one message of x bytes.
 *
 * Ring family (ring, striped, zigzag): P steps; in step t a rank computes one block while the
 * next K/V block moves. A step takes as long as its slower part, on the busiest rank.
 *   cF = 4·b²·D·H/F (a full block forward), cB = 2.5·cF (backward), kv = 2·b·Hkv·D·e
 *   f_t = share of a full block the busiest rank computes in step t:
 *     not causal 1; causal ring f_0 = 1/2 (diagonal) then 1 (the last rank sees every earlier
 *     block whole: the critical path is ~P blocks); causal striped/zigzag 1/2 every step (~P/2)
 *   forward  = Σ_{t<P-1} max(f_t·cF, T(kv)) + f_{P-1}·cF
 *   backward = max(f_0·cB, T(kv)) + Σ_{0<t<P-1} max(f_t·cB, T(2·kv)) + f_{P-1}·cB + T(kv)
 *              (a rank keeps its own block's dK/dV share; from step 1 on the accumulators
 *              travel beside the K/V, P-1 hops, and their last hop home is not hidden)
 * Ulysses: rank j gets hq = H/P query heads and hkv = max(1, Hkv/P) K/V heads of the whole
 * sequence; the all-to-alls are not overlapped with compute. A(x) = (P-1)·α + x/β for x bytes
 * sent per rank; c = 1/2 causal, else 1 (heads split evenly, so no imbalance):
 *   forward  = A((P-1)·b·(hq+2·hkv)·D·e) + 4·S²·D·H·c/(P·F) + A((P-1)·b·hq·D·e)
 *   backward = A((P-1)·b·hq·D·e) + 10·S²·D·H·c/(P·F) + A((P-1)·b·(hq+2·hkv)·D·e)
 * RSA (ring self-attention): every score block is computed (causal is a bias, nothing is
 * skipped) and the probabilities are kept: H·b·S·e bytes per rank.
 *   forward: keys circulate (per step 2·b²·D·H/F against T(b·Hkv·D·e)), then values (the same)
 *   backward: K, V and dK, dV circulate, per step 8·b²·D·H/F (4 matmuls: P is stored) against
 *   T(4·b·Hkv·D·e) (step 0: T(2·b·Hkv·D·e), K and V only), plus T(2·b·Hkv·D·e) for the
 *   accumulators' last hop
 * Hybrid (degree U, ring layout L; worker hybrid.ts): R = P/U groups of U consecutive ranks.
 * Inside a group an all-to-all (as Ulysses', over U ranks, not overlapped) gives each member
 * hq = H/U query heads and hkv K/V heads of the group's U·b tokens, where hkv is the most any
 * member receives (memberKvHeads: max(1, Hkv/U) when the heads line up, more where K/V heads are
 * replicated per query head). Then L's ring model above runs over R ranks with blocks of S/R = U·b
 * tokens, hq and hkv heads, and a last all-to-all returns the output rows:
 *   forward  = A_U((U-1)·b·(hq+2·hkv)·D·e) + ring_L(R, S, hq, hkv).forward + A_U((U-1)·b·hq·D·e)
 *   backward = A_U((U-1)·b·hq·D·e) + ring_L(R, S, hq, hkv).backward + A_U((U-1)·b·(hq+2·hkv)·D·e)
 * with A_U(x) = (U-1)·α + x/β. U = 1 is exactly L's ring; U = P exactly Ulysses (R = 1: one
 * block, nothing moves, compute S²·hq/…).
 *
 * Ranks sharing a machine (kernelRate): F may be two figures, one rank computing alone and every
 * rank computing at once (`bench attention` measures both in the same run; on 2 cores they differ
 * by a quarter to a half). Ulysses, RSA and the balanced ring layouts keep every rank busy and run
 * at the all-busy rate; a causal ring's step t keeps only the ranks t…P-1 busy (the others wait
 * for K/V they may not see), and runs at the rate for that many: time per FLOP interpolated
 * linearly between the two measured ends (exact at P = 2, where there is nothing between). On
 * ranks with devices of their own both figures are the same and this term vanishes.
 *
 * Communication is hidden in a ring step when compute ≥ transfer: a·b² ≥ α + k·b, i.e. for
 * b ≥ (k + √(k² + 4·a·α)) / (2a), taken over forward and backward (hiddenFromTokens).
 */

export const BYTES_PER_ELEMENT = 4;

export interface SimProblem {
  workers: number; // P
  seqLen: number; // S
  heads: number;
  kvHeads: number;
  headDim: number;
  causal: boolean;
}

export interface Link {
  name: string;
  bytesPerSec: number; // β
  latencySec: number; // α
}

export const LINK_PRESETS: Readonly<Record<string, Link>> = Object.freeze({
  nvlink: Object.freeze({ name: 'nvlink', bytesPerSec: 300e9, latencySec: 2e-6 }),
  'ethernet-100g': Object.freeze({ name: 'ethernet-100g', bytesPerSec: 12.5e9, latencySec: 10e-6 }),
});

/** The ring family's layouts, as hybrid's ring across groups may use them. */
export type RingLayoutName = 'ring' | 'striped' | 'zigzag';

/** hybrid's own choices; the other strategies ignore them. */
export interface HybridChoice {
  ulyssesDegree: number;
  ringLayout: RingLayoutName;
}

/** One rank's kernel FLOP/s: one figure, or alone and with every rank busy (ranks sharing a machine). */
export type KernelRate = number | { readonly alone: number; readonly allBusy: number };

/** Per-rank FLOP/s when `busy` of the world's P ranks compute at once. */
export function rateWhenBusy(F: KernelRate, busy: number, P: number): number {
  if (typeof F === 'number') return F;
  if (P <= 1) return F.alone;
  const share = Math.min(1, Math.max(0, (busy - 1) / (P - 1)));
  return 1 / (1 / F.alone + share * (1 / F.allBusy - 1 / F.alone));
}

const allBusy = (F: KernelRate) => (typeof F === 'number' ? F : F.allBusy);
const alone = (F: KernelRate) => (typeof F === 'number' ? F : F.alone);

export type StepEstimate =
  | {
      strategy: StrategyName;
      feasible: true;
      forwardSec: number;
      backwardSec: number;
      stepSec: number;
      /** Compute on the critical path; stepSec − computeSec is communication not hidden. */
      computeSec: number;
      exposedCommSec: number;
      /** Useful FLOPs / (P·F) ÷ stepSec: 1 is perfect scaling. */
      efficiency: number;
      bytesSentPerRank: number;
      /** RSA's stored probabilities; 0 for the blockwise strategies. */
      scoreMemoryBytes: number;
    }
  | { strategy: StrategyName; feasible: false; reason: string };

export function simulateStep(strategy: StrategyName, p: SimProblem, link: Link, flopsPerSec: KernelRate, hybrid?: HybridChoice): StepEstimate {
  if (!Number.isInteger(p.workers) || p.workers < 1) throw new Error(`workers must be a positive integer, got ${p.workers}`);
  if (p.seqLen < p.workers) return { strategy, feasible: false, reason: `S = ${p.seqLen} < P = ${p.workers}` };
  switch (strategy) {
    case 'ring':
    case 'striped':
    case 'zigzag':
      return ringFamily(strategy, p, link, flopsPerSec);
    case 'ulysses':
      return ulysses(p, link, flopsPerSec);
    case 'rsa':
      return rsa(p, link, flopsPerSec);
    case 'hybrid':
      if (!hybrid) return { strategy, feasible: false, reason: 'hybrid needs a Ulysses degree and a ring layout' };
      return hybridStep(p, link, flopsPerSec, hybrid);
  }
}

function transfer(bytes: number, link: Link): number {
  return link.latencySec + bytes / link.bytesPerSec;
}

function usefulSec(p: SimProblem, F: number): number {
  return (14 * p.seqLen * p.seqLen * p.headDim * p.heads * (p.causal ? 0.5 : 1)) / (p.workers * F);
}

interface Parts {
  forwardSec: number;
  backwardSec: number;
  computeSec: number;
  bytesSentPerRank: number;
  scoreMemoryBytes?: number;
}

function estimate(strategy: StrategyName, p: SimProblem, F: KernelRate, parts: Parts): StepEstimate {
  const stepSec = parts.forwardSec + parts.backwardSec;
  return {
    strategy,
    feasible: true,
    forwardSec: parts.forwardSec,
    backwardSec: parts.backwardSec,
    stepSec,
    computeSec: parts.computeSec,
    exposedCommSec: Math.max(0, stepSec - parts.computeSec),
    efficiency: usefulSec(p, alone(F)) / stepSec,
    bytesSentPerRank: parts.bytesSentPerRank,
    scoreMemoryBytes: parts.scoreMemoryBytes ?? 0,
  };
}

/** f_t: share of a full block the busiest rank computes in ring step t. */
export function ringStepShare(strategy: RingLayoutName, causal: boolean, step: number): number {
  if (!causal) return 1;
  if (strategy === 'ring') return step === 0 ? 0.5 : 1;
  return 0.5;
}

function ringFamily(strategy: RingLayoutName, p: SimProblem, link: Link, F: KernelRate): StepEstimate {
  return estimate(strategy, p, F, ringParts(strategy, p, link, F));
}

/**
 * The ring family's forward, backward, compute and bytes (the model above), for ringFamily and
 * hybrid's ring; each ring rank stands for `perRingRank` ranks of the world (hybrid: U), all busy or idle together.
 */
function ringParts(strategy: RingLayoutName, p: SimProblem, link: Link, F: KernelRate, perRingRank = 1): Parts {
  const P = p.workers;
  const b = p.seqLen / P;
  const flopsF = 4 * b * b * p.headDim * p.heads; // a full block forward
  const kv = 2 * b * p.kvHeads * p.headDim * BYTES_PER_ELEMENT;
  let forwardSec = 0;
  let backwardSec = 0;
  let computeSec = 0;
  for (let t = 0; t < P; t++) {
    const f = ringStepShare(strategy, p.causal, t);
    const busy = p.causal && strategy === 'ring' ? P - t : P; // ranks t…P-1 see block r−t under the mask
    const cF = flopsF / rateWhenBusy(F, busy * perRingRank, P * perRingRank);
    const cB = 2.5 * cF;
    computeSec += f * (cF + cB);
    if (t < P - 1) {
      forwardSec += Math.max(f * cF, transfer(kv, link));
      backwardSec += Math.max(f * cB, transfer(t === 0 ? kv : 2 * kv, link));
    } else {
      forwardSec += f * cF;
      backwardSec += f * cB + (P > 1 ? transfer(kv, link) : 0);
    }
  }
  // K/V: P-1 hops forward and backward; dK/dV: P-1 hops.
  const bytesSentPerRank = kv * 3 * (P - 1);
  return { forwardSec, backwardSec, computeSec, bytesSentPerRank };
}

/** One all-to-all over n ranks sending x bytes per rank (each message pays the latency once). */
function allToAllSec(n: number, bytes: number, link: Link): number {
  return n > 1 ? (n - 1) * link.latencySec + bytes / link.bytesPerSec : 0;
}

/** The most K/V heads one member of a group of U receives (hybrid.ts's memberKvHeads). */
export function hybridKvHeads(heads: number, kvHeads: number, U: number): number {
  const problem = makeProblem({ seqLen: 1, heads, kvHeads, headDim: 1, causal: false });
  return Math.max(...Array.from({ length: U }, (_, j) => memberKvHeads(problem, U, j).length));
}

function hybridStep(p: SimProblem, link: Link, F: KernelRate, choice: HybridChoice): StepEstimate {
  const { ulyssesDegree: U, ringLayout } = choice;
  const P = p.workers;
  if (!Number.isInteger(U) || U < 1 || P % U !== 0) return { strategy: 'hybrid', feasible: false, reason: `Ulysses degree ${U} does not divide P = ${P}` };
  if (p.heads % U !== 0) return { strategy: 'hybrid', feasible: false, reason: `heads ${p.heads} not divisible by the Ulysses degree ${U}` };
  const b = p.seqLen / P;
  const hq = p.heads / U;
  const hkv = hybridKvHeads(p.heads, p.kvHeads, U);
  const e = BYTES_PER_ELEMENT;
  const qkvBytes = (U - 1) * b * (hq + 2 * hkv) * p.headDim * e;
  const oBytes = (U - 1) * b * hq * p.headDim * e;
  const a2a = allToAllSec(U, qkvBytes, link) + allToAllSec(U, oBytes, link); // each way
  // The ring over R = P/U groups, on this member's heads of its group's S/R tokens.
  const ring = ringParts(ringLayout, { ...p, workers: P / U, heads: hq, kvHeads: hkv }, link, F, U);
  return estimate('hybrid', p, F, {
    forwardSec: a2a + ring.forwardSec,
    backwardSec: a2a + ring.backwardSec,
    computeSec: ring.computeSec,
    bytesSentPerRank: ring.bytesSentPerRank + 2 * (qkvBytes + oBytes),
  });
}

function ulysses(p: SimProblem, link: Link, rate: KernelRate): StepEstimate {
  const F = allBusy(rate); // every rank computes its heads at once
  const P = p.workers;
  if (p.heads % P !== 0) {
    return { strategy: 'ulysses', feasible: false, reason: `needs heads divisible by P (H = ${p.heads})` };
  }
  if (!ulyssesSplitsHeads(p.heads, p.kvHeads, P)) {
    return { strategy: 'ulysses', feasible: false, reason: `its ${p.heads / P} query heads per rank do not line up with K/V groups of ${p.heads / p.kvHeads}` };
  }
  const b = p.seqLen / P;
  const hq = p.heads / P;
  const hkv = Math.max(1, p.kvHeads / P);
  const e = BYTES_PER_ELEMENT;
  const allToAll = (bytes: number) => allToAllSec(P, bytes, link);
  const qkvBytes = (P - 1) * b * (hq + 2 * hkv) * p.headDim * e;
  const oBytes = (P - 1) * b * hq * p.headDim * e;
  const c = p.causal ? 0.5 : 1;
  const fwdCompute = (4 * p.seqLen * p.seqLen * p.headDim * p.heads * c) / (P * F);
  const bwdCompute = 2.5 * fwdCompute;
  return estimate('ulysses', p, rate, {
    forwardSec: allToAll(qkvBytes) + fwdCompute + allToAll(oBytes),
    backwardSec: allToAll(oBytes) + bwdCompute + allToAll(qkvBytes),
    computeSec: fwdCompute + bwdCompute,
    bytesSentPerRank: 2 * (qkvBytes + oBytes),
  });
}

function rsa(p: SimProblem, link: Link, rate: KernelRate): StepEstimate {
  const F = allBusy(rate); // every rank computes every block
  const P = p.workers;
  const b = p.seqLen / P;
  const e = BYTES_PER_ELEMENT;
  const oneKv = b * p.kvHeads * p.headDim * e; // K or V of one rank
  const matmul = (2 * b * b * p.headDim * p.heads) / F; // one [b × D]·[D × b] product per head
  const circulate = (stepCompute: number, bytesAt: (t: number) => number) => {
    let sec = 0;
    for (let t = 0; t < P; t++) sec += t < P - 1 ? Math.max(stepCompute, transfer(bytesAt(t), link)) : stepCompute;
    return sec;
  };
  const forwardSec = 2 * circulate(matmul, () => oneKv); // keys, then values
  const backwardSec = circulate(4 * matmul, (t) => (t === 0 ? 2 : 4) * oneKv) + (P > 1 ? transfer(2 * oneKv, link) : 0);
  return estimate('rsa', p, rate, {
    forwardSec,
    backwardSec,
    computeSec: P * 6 * matmul,
    bytesSentPerRank: oneKv * 6 * (P - 1),
    scoreMemoryBytes: p.heads * b * p.seqLen * e,
  });
}

/**
 * Tokens per rank (S/P) from which a ring step's compute hides its transfer, forward and
 * backward; null where the strategy does not overlap (Ulysses' all-to-alls).
 */
export function hiddenFromTokens(strategy: StrategyName, p: Omit<SimProblem, 'workers' | 'seqLen'>, link: Link, flopsPerSec: number): number | null {
  const { heads: H, kvHeads: Hkv, headDim: D } = p;
  const e = BYTES_PER_ELEMENT;
  const perByte = 1 / link.bytesPerSec;
  switch (strategy) {
    case 'ring':
    case 'striped':
    case 'zigzag': {
      const f = ringStepShare(strategy, p.causal, 1); // steady state
      return Math.max(
        crossover((4 * f * D * H) / flopsPerSec, 2 * Hkv * D * e * perByte, link.latencySec),
        crossover((10 * f * D * H) / flopsPerSec, 4 * Hkv * D * e * perByte, link.latencySec),
      );
    }
    case 'rsa':
      return Math.max(
        crossover((2 * D * H) / flopsPerSec, Hkv * D * e * perByte, link.latencySec),
        crossover((8 * D * H) / flopsPerSec, 4 * Hkv * D * e * perByte, link.latencySec),
      );
    case 'ulysses':
    case 'hybrid': // its ring hides its transfers as the ring does; its all-to-alls are not hidden
      return null;
  }
}

/** The b ≥ 0 where a·b² = α + k·b. */
function crossover(a: number, k: number, alpha: number): number {
  return (k + Math.sqrt(k * k + 4 * a * alpha)) / (2 * a);
}
