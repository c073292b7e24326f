import { RingtrainError } from '@ringtrain/core';
import type { LayoutName } from '@ringtrain/layout';

/** Each strategy and the layout its shards are cut by (docs/layouts.md, docs/strategies.md): the one map of it. */
export const STRATEGY_LAYOUTS = Object.freeze({
  ring: 'contiguous',
  striped: 'striped',
  zigzag: 'zigzag',
  ulysses: 'contiguous',
  rsa: 'contiguous',
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
    const ok = Array.from({ length: heads }, (_, i) => i + 1).filter((d) => heads % d === 0);
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
