import { LAYOUT_NAMES, evenSplit, gatherRows, makeLayout, shardRows } from './layout';

describe('layouts', () => {
  const cases: Array<[number, number]> = [
    [1, 1], [7, 1], [7, 2], [7, 3], [8, 4], [1000, 4], [1001, 3], [129, 4], [5, 5], [11, 4],
  ];

  it.each(LAYOUT_NAMES.flatMap((name) => cases.map(([s, p]) => [name, s, p] as const)))(
    '%s S=%i P=%i: shards partition the sequence and round-trip',
    (name, seqLen, worldSize) => {
      const layout = makeLayout(name, seqLen, worldSize);
      const seen = new Uint8Array(seqLen);
      let total = 0;
      for (let r = 0; r < worldSize; r++) {
        const pos = layout.positions(r);
        expect(pos.length).toBe(layout.shardSize(r));
        for (let i = 1; i < pos.length; i++) expect(pos[i]).toBeGreaterThan(pos[i - 1]);
        for (const p of pos) seen[p]++;
        total += pos.length;
      }
      expect(total).toBe(seqLen);
      expect(Array.from(seen).every((c) => c === 1)).toBe(true);
      const sizes = Array.from({ length: worldSize }, (_, r) => layout.shardSize(r));
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(name === 'zigzag' ? 2 : 1);

      const rowSize = 3;
      const data = Float32Array.from({ length: seqLen * rowSize }, (_, i) => i * 0.5 - 7);
      const shards = Array.from({ length: worldSize }, (_, r) => shardRows(layout, data, rowSize, r));
      expect(Array.from(gatherRows(layout, shards, rowSize))).toEqual(Array.from(data));
    },
  );

  it('places tokens where docs/layouts.md says', () => {
    expect(Array.from(makeLayout('contiguous', 7, 3).positions(0))).toEqual([0, 1, 2]);
    expect(Array.from(makeLayout('contiguous', 7, 3).positions(2))).toEqual([5, 6]);
    expect(Array.from(makeLayout('striped', 7, 3).positions(1))).toEqual([1, 4]);
    expect(Array.from(makeLayout('zigzag', 8, 2).positions(0))).toEqual([0, 1, 6, 7]);
    expect(Array.from(makeLayout('zigzag', 8, 2).positions(1))).toEqual([2, 3, 4, 5]);
    expect(evenSplit(10, 4)).toEqual([3, 3, 2, 2]);
  });

  it('refuses a world larger than the sequence with a coded error', () => {
    expect(() => makeLayout('striped', 3, 4)).toThrow(/shorter than the world size/);
    expect(() => makeLayout('ring' as never, 8, 2)).toThrow(/unknown layout/);
  });
});
