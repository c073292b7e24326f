import { estimateAttentionCheckMemory, estimateRunMemory, type ModelConfig } from '@ringtrain/config';
import type { SimProblem } from '../bench/sim-model';
import type { Candidate } from './candidates';

/** One rank's peak memory for a candidate, and its parts (for the reason a candidate does not fit). */
export interface RankMemory {
  readonly bytes: number;
  readonly parts: Readonly<Record<string, number>>;
}

/**
 * Memory per rank from libs/config's estimate (memory-estimate.ts), never a formula of its own:
 * without a model, what one worker holds for the attention layer alone (its shard's tensors and
 * the strategy's attention arrays, as `check` sizes it); with a model, a whole training worker
 * (parameters and optimizer state, every layer's activations, logits) at batch 1. Both with the
 * tiled native kernel, which keeps no block of scores.
 */
export function rankMemory(c: Candidate, p: SimProblem, model: ModelConfig | null): RankMemory {
  const ulyssesDegree = c.hybrid?.ulyssesDegree;
  const e = model
    ? estimateRunMemory({ workers: p.workers, strategy: c.strategy, model, backend: 'native', stages: [{ seqLen: p.seqLen, batchSize: 1 }], ulyssesDegree })
    : estimateAttentionCheckMemory({ ...p, strategies: [c.strategy], backend: 'native', ulyssesDegree });
  return { bytes: e.perWorkerBytes, parts: e.parts };
}
