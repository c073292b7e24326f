import { hybridDegrees } from '@ringtrain/config';
import type { StrategyName } from '@ringtrain/worker';
import type { HybridChoice, RingLayoutName } from '../bench/sim-model';

/**
 * What `ringtrain plan` ranks: every plain strategy, and hybrid at every Ulysses degree U with
 * 1 < U < P that divides both P and the heads (U = 1 is the ring, U = P is Ulysses: both are
 * listed already). For each U only hybrid's best ring layout is kept (rank.ts): the layouts
 * differ only in the ring's causal balance, which the plain ring, striped and zigzag rows show
 * already, and three rows per degree would bury the table at P = 512.
 */
export interface Candidate {
  readonly strategy: StrategyName;
  /** hybrid only. */
  readonly hybrid?: HybridChoice;
}

export const RING_LAYOUT_NAMES: readonly RingLayoutName[] = ['ring', 'striped', 'zigzag'];

/** The plain strategies, then hybrid's degrees (each with every ring layout; rank.ts keeps the best). */
export function planCandidates(heads: number, workers: number, onlyDegree?: number): Candidate[] {
  const plain: Candidate[] = (['ring', 'striped', 'zigzag', 'ulysses', 'rsa'] as const).map((strategy) => ({ strategy }));
  const degrees = onlyDegree !== undefined ? [onlyDegree] : hybridDegrees(heads, workers).filter((u) => u > 1 && u < workers);
  const hybrid = degrees.flatMap((ulyssesDegree) => RING_LAYOUT_NAMES.map((ringLayout): Candidate => ({ strategy: 'hybrid', hybrid: { ulyssesDegree, ringLayout } })));
  return [...plain, ...hybrid];
}

/** "striped", "hybrid U=4 striped". */
export function candidateLabel(c: Candidate): string {
  return c.hybrid ? `hybrid U=${c.hybrid.ulyssesDegree} ${c.hybrid.ringLayout}` : c.strategy;
}
