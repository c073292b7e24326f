import { shardTokens, type Layout } from '@ringtrain/layout';
import type { I32Tensor } from '@ringtrain/protocol';

/** One rank's tensors of a train-step or eval-step job. */
export interface TokenShardTensors {
  tokens: I32Tensor;
  targets: I32Tensor;
  pos: I32Tensor;
  prevTokens?: I32Tensor;
}

/**
 * Every rank's shard of a token batch (libs/layout `shardTokens`: [B, Sr] tokens and targets,
 * previous tokens for `prevLags` > 0) with its global positions, as the train-step job's tensors.
 */
export function shardTokenBatch(layout: Layout, inputs: Int32Array, targets: Int32Array, batch: number, prevLags = 0): TokenShardTensors[] {
  return Array.from({ length: layout.worldSize }, (_, r) => {
    const s = shardTokens(layout, r, inputs, targets, batch, prevLags);
    const pos = layout.positions(r);
    const out: TokenShardTensors = {
      tokens: { dtype: 'int32', shape: [s.tokens.length], data: s.tokens },
      targets: { dtype: 'int32', shape: [s.targets.length], data: s.targets },
      pos: { dtype: 'int32', shape: [pos.length], data: pos },
    };
    if (s.prevTokens) out.prevTokens = { dtype: 'int32', shape: [s.prevTokens.length], data: s.prevTokens };
    return out;
  });
}

/** Puts per-rank [B, Sr] predictions back into global order [B, S]. */
export function gatherTokenBatch(layout: Layout, shards: readonly Int32Array[], batch: number): Int32Array {
  const S = layout.seqLen;
  const out = new Int32Array(batch * S);
  shards.forEach((shard, r) => {
    const pos = layout.positions(r);
    const n = pos.length;
    for (let b = 0; b < batch; b++) for (let i = 0; i < n; i++) out[b * S + pos[i]] = shard[b * n + i];
  });
  return out;
}

export function countTargets(targets: Int32Array): number {
  let n = 0;
  for (const t of targets) if (t >= 0) n++;
  return n;
}
