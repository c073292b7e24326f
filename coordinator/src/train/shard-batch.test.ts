import { LAYOUT_NAMES, makeLayout } from '@ringtrain/layout';
import { countTargets, gatherTokenBatch, shardTokenBatch } from './shard-batch';

describe('token batch sharding', () => {
  it.each(LAYOUT_NAMES)('%s: every rank gets its positions of every sequence, and gathering undoes it', (name) => {
    const S = 11, B = 3, P = 3;
    const layout = makeLayout(name, S, P);
    const inputs = Int32Array.from({ length: B * S }, (_, i) => 1000 + i);
    const targets = Int32Array.from({ length: B * S }, (_, i) => (i % 4 === 0 ? -1 : i));
    const shards = shardTokenBatch(layout, inputs, targets, B);
    shards.forEach((sh, r) => {
      const pos = layout.positions(r);
      expect(Array.from(sh.pos.data)).toEqual(Array.from(pos));
      // row b of rank r holds global positions pos of sequence b
      expect(sh.tokens.data[pos.length + 0]).toBe(inputs[S + pos[0]]);
    });
    expect(Array.from(gatherTokenBatch(layout, shards.map((s) => s.tokens.data as Int32Array), B))).toEqual(Array.from(inputs));
    expect(Array.from(gatherTokenBatch(layout, shards.map((s) => s.targets.data as Int32Array), B))).toEqual(Array.from(targets));
    expect(countTargets(targets)).toBe(targets.filter((t) => t >= 0).length);
  });

  it.each(LAYOUT_NAMES)('%s: prevLags adds the tokens 1..n places back of each position, -1 before the start', (name) => {
    const S = 7, B = 2, P = 2, lags = 2;
    const layout = makeLayout(name, S, P);
    const inputs = Int32Array.from({ length: B * S }, (_, i) => 500 + i);
    const shards = shardTokenBatch(layout, inputs, new Int32Array(B * S), B, lags);
    shards.forEach((sh, r) => {
      const pos = layout.positions(r);
      const n = pos.length;
      expect(sh.prevTokens?.shape).toEqual([lags * B * n]);
      for (let lag = 1; lag <= lags; lag++) {
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < n; i++) {
            const want = pos[i] >= lag ? inputs[b * S + pos[i] - lag] : -1;
            expect(sh.prevTokens?.data[((lag - 1) * B + b) * n + i]).toBe(want);
          }
        }
      }
    });
    expect(shardTokenBatch(layout, inputs, inputs, B)[0].prevTokens).toBeUndefined();
  });
});
