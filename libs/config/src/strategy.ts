import { RingtrainError } from '@ringtrain/core';
import { makeLayout, type Layout, type LayoutName } from '@ringtrain/layout';

/** Each strategy and the layout its shards are cut by (docs/layouts.md, docs/strategies.md): the one map of it. */
export const STRATEGY_LAYOUTS = Object.freeze({
  ring: 'contiguous',
  striped: 'striped',
  zigzag: 'zigzag',
  ulysses: 'contiguous',
  rsa: 'contiguous',
  /** hybrid: its ring's layout (`ringLayout`, this by default) over groups of `ulyssesDegree` ranks (strategyLayout). */
  hybrid: 'contiguous',
} as const satisfies Record<string, LayoutName>);
export type TrainStrategy = keyof typeof STRATEGY_LAYOUTS;
export const TRAIN_STRATEGIES = Object.keys(STRATEGY_LAYOUTS) as TrainStrategy[];

/** How a head count is named in an error: `--heads 4` for `check`, `model heads 4 × batch 2` for training. */
export interface HeadLabels {
  heads: string;
  kvHeads: string;
  workers: string;
}

/**
 * Ulysses gives each rank heads/P query heads, so the heads must divide by P, and each rank's
 * query heads must line up with the K/V groups (heads/kvHeads divides heads/P, or the reverse).
 * The one check of it, used by `check`, `train`'s config and the strategy itself.
 */
export function checkUlyssesHeads(heads: number, kvHeads: number, workers: number, labels: HeadLabels = { heads: `--heads ${heads}`, kvHeads: `--kv-heads ${kvHeads}`, workers: `--workers ${workers}` }): void {
  if (heads % workers !== 0) {
    const ok = divisors(heads);
    throw new RingtrainError('ULYSSES_HEADS', `ulysses splits heads across ranks, and ${labels.heads} does not divide by ${labels.workers}`, {
      hint: `use a worker count of ${ok.join(', ')}, a head count divisible by ${workers}, or a ring strategy (ring, striped, zigzag)`,
      details: { heads, workers },
    });
  }
  const perRank = heads / workers;
  const group = heads / kvHeads;
  if (perRank % group !== 0 && group % perRank !== 0) {
    throw new RingtrainError('ULYSSES_KV_HEADS', `ulysses gives each rank ${perRank} query heads, which does not line up with K/V groups of ${group} (${labels.heads}, ${labels.kvHeads})`, {
      hint: 'choose kv heads so that heads/kv-heads divides or is a multiple of heads/workers',
      details: { heads, kvHeads, workers },
    });
  }
}

/**
 * A strategy as a run names it: hybrid also has its Ulysses degree U (ranks per group; the ring
 * runs across workers/U groups) and the layout of that ring. Both are ignored by the others.
 */
export interface StrategySpec {
  readonly strategy: TrainStrategy;
  readonly ulyssesDegree?: number;
  readonly ringLayout?: LayoutName;
}

/** The layout a strategy's shards are cut by: its own, or for hybrid its ring layout over groups of U ranks. */
export function strategyLayout(spec: StrategySpec, seqLen: number, workers: number): Layout {
  if (spec.strategy === 'hybrid') return makeLayout(spec.ringLayout ?? STRATEGY_LAYOUTS.hybrid, seqLen, workers, spec.ulyssesDegree ?? 1);
  return makeLayout(STRATEGY_LAYOUTS[spec.strategy], seqLen, workers);
}

/** Whether Ulysses over `ranks` ranks can split these heads: checkUlyssesHeads' rule as a test. */
export function ulyssesSplitsHeads(heads: number, kvHeads: number, ranks: number): boolean {
  if (heads % ranks !== 0) return false;
  const perRank = heads / ranks;
  const group = heads / kvHeads;
  return perRank % group === 0 || group % perRank === 0;
}

/** 1 … n's divisors, ascending. */
export function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}

/** The Ulysses degrees a hybrid can use: the divisors of the world size that divide the heads (1, a plain ring, always). */
export function hybridDegrees(heads: number, workers: number): number[] {
  return divisors(workers).filter((u) => heads % u === 0);
}

/** Without a chosen degree: the largest that leaves a ring of at least two groups (1 on one or two workers). */
export function defaultUlyssesDegree(heads: number, workers: number): number {
  const proper = hybridDegrees(heads, workers).filter((u) => u < workers);
  return proper.length > 0 ? proper[proper.length - 1] : 1;
}

/** How the options are named in a hybrid's errors (`--ulysses-degree 4` for the CLI, `ulyssesDegree 4` in a config). */
export interface HybridLabels {
  degree: string;
  heads: string;
  workers: string;
}

/**
 * The hybrid's one check, used by `check`, `train`'s config and the strategy itself: U divides
 * the world size (R = P/U groups, at least one) and the heads (each rank of a group gets H/U
 * query heads). Any K/V head count that divides the heads works: a rank receives the K/V heads
 * its query heads use, replicated where a group needs them (worker hybrid.ts). Every error
 * names the option, its value and the nearest degrees that work.
 */
export function checkHybridDegree(
  ulyssesDegree: number,
  heads: number,
  workers: number,
  labels: HybridLabels = { degree: `--ulysses-degree ${ulyssesDegree}`, heads: `--heads ${heads}`, workers: `--workers ${workers}` },
): void {
  const valid = hybridDegrees(heads, workers);
  const u = ulyssesDegree;
  const fix = (code: string, message: string): RingtrainError => {
    const nearest = nearestOf(valid, u);
    const option = labels.degree.split(' ')[0];
    return new RingtrainError(code, message, {
      hint: `use ${option} ${nearest.join(' or ')} (the degrees that divide both ${labels.workers} and ${labels.heads}: ${valid.join(', ')})`,
      details: { option, value: u, nearest, valid, heads, workers },
    });
  };
  if (!Number.isInteger(u) || u < 1) throw fix('HYBRID_DEGREE', `${labels.degree} must be a positive integer`);
  if (u > workers) throw fix('HYBRID_DEGREE', `${labels.degree} is more than ${labels.workers}: the ring across groups of ${u} ranks would have R = ${workers}/${u} = 0 groups`);
  if (workers % u !== 0) throw fix('HYBRID_DEGREE', `${labels.degree} does not divide ${labels.workers}: hybrid runs a ring across P/U groups of U ranks`);
  if (heads % u !== 0) throw fix('ULYSSES_HEADS', `hybrid splits heads across the ${u} ranks of a group, and ${labels.heads} does not divide by ${labels.degree}`);
}

/** The values of `options` closest to `value` (two on a tie). */
export function nearestOf(options: readonly number[], value: number): number[] {
  const best = Math.min(...options.map((o) => Math.abs(o - value)));
  return options.filter((o) => Math.abs(o - value) === best);
}
