import type { Layout } from './layout';

/** One rank's share of a token batch: [B, Sr] rows, and [lag, B, Sr] previous tokens when asked. */
export interface TokenShard {
  tokens: Int32Array;
  targets: Int32Array;
  /** The tokens 1..prevLags places back of each position, -1 before the sequence start (prevLags > 0 only). */
  prevTokens?: Int32Array;
}

/**
 * Cuts a batch [B, S] of tokens and next-token targets (computed on the whole sequence) into the
 * shard of `rank` [B, Sr] under the layout and, for `prevLags` > 0, reads each position's
 * previous tokens from the whole sequence (those neighbours may live on other ranks).
 */
export function shardTokens(layout: Layout, rank: number, inputs: Int32Array, targets: Int32Array, batch: number, prevLags = 0): TokenShard {
  const S = layout.seqLen;
  const pos = layout.positions(rank);
  const n = pos.length;
  const tokens = new Int32Array(batch * n);
  const y = new Int32Array(batch * n);
  const prev = new Int32Array(prevLags * batch * n);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < n; i++) {
      tokens[b * n + i] = inputs[b * S + pos[i]];
      y[b * n + i] = targets[b * S + pos[i]];
      for (let lag = 1; lag <= prevLags; lag++) prev[((lag - 1) * batch + b) * n + i] = pos[i] >= lag ? inputs[b * S + pos[i] - lag] : -1;
    }
  }
  return prevLags > 0 ? { tokens, targets: y, prevTokens: prev } : { tokens, targets: y };
}
