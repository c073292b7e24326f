import type { Layout } from '@ringtrain/layout';
import type { WireTensor } from '@ringtrain/transport';

/**
 * Cuts a batch [B, S] of tokens and next-token targets (computed on the whole sequence) into
 * every rank's shard [B, Sr] under the run's layout, with the shard's global positions and, for
 * `prevLags` > 0, the tokens 1..prevLags places back of each position ([lag, B, Sr], -1 before the
 * sequence start): those neighbours may live on other ranks, so they are read here.
 */
export function shardTokenBatch(layout: Layout, inputs: Int32Array, targets: Int32Array, batch: number, prevLags = 0): Array<Record<string, WireTensor>> {
  const S = layout.seqLen;
  return Array.from({ length: layout.worldSize }, (_, r) => {
    const pos = layout.positions(r);
    const n = pos.length;
    const t = new Int32Array(batch * n);
    const y = new Int32Array(batch * n);
    const prev = new Int32Array(prevLags * batch * n); // [lag, B, Sr]
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < n; i++) {
        t[b * n + i] = inputs[b * S + pos[i]];
        y[b * n + i] = targets[b * S + pos[i]];
        for (let lag = 1; lag <= prevLags; lag++) prev[((lag - 1) * batch + b) * n + i] = pos[i] >= lag ? inputs[b * S + pos[i] - lag] : -1;
      }
    }
    return {
      tokens: { dtype: 'int32', shape: [batch * n], data: t },
      targets: { dtype: 'int32', shape: [batch * n], data: y },
      pos: { dtype: 'int32', shape: [n], data: pos },
      ...(prevLags > 0 ? { prevTokens: { dtype: 'int32', shape: [prevLags * batch * n], data: prev } as WireTensor } : {}),
    };
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
