import { shardTokens, type Layout } from '@ringtrain/layout';
import type { I32Tensor } from '@ringtrain/protocol';

/** One rank's tensors of a train-step or eval-step job. */
export interface TokenShardTensors {
  tokens: I32Tensor;
  targets: I32Tensor;
  pos: I32Tensor;
  prevTokens?: I32Tensor;
  docs?: I32Tensor;
  ropePos?: I32Tensor;
}

/**
 * Every rank's shard of a token batch (libs/layout `shardTokens`: [B, Sr] tokens and targets,
 * previous tokens for `prevLags` > 0) with its global positions, as the train-step job's tensors.
 */
export function shardTokenBatch(
  layout: Layout,
  inputs: Int32Array,
  targets: Int32Array,
  batch: number,
  prevLags = 0,
  perToken: { docs?: Int32Array; ropePos?: Int32Array } = {},
): TokenShardTensors[] {
  const i32 = (data: Int32Array): I32Tensor => ({ dtype: 'int32', shape: [data.length], data });
  return Array.from({ length: layout.worldSize }, (_, r) => {
    const s = shardTokens(layout, r, inputs, targets, batch, prevLags);
    const pos = layout.positions(r);
    const out: TokenShardTensors = { tokens: i32(s.tokens), targets: i32(s.targets), pos: i32(pos) };
    if (s.prevTokens) out.prevTokens = i32(s.prevTokens);
    if (perToken.docs) out.docs = i32(shardRows(layout, r, perToken.docs, batch));
    if (perToken.ropePos) out.ropePos = i32(shardRows(layout, r, perToken.ropePos, batch));
    return out;
  });
}

/** Rank r's values of a per-token [B, S] array, as [B, Sr] in the order of its positions. */
export function shardRows(layout: Layout, r: number, values: Int32Array, batch: number): Int32Array {
  const S = layout.seqLen;
  const pos = layout.positions(r);
  const out = new Int32Array(batch * pos.length);
  for (let b = 0; b < batch; b++) for (let i = 0; i < pos.length; i++) out[b * pos.length + i] = values[b * S + pos[i]];
  return out;
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
