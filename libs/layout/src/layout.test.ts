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

  const grouped: Array<[number, number, number]> = [[1001, 6, 2], [1001, 6, 3], [23, 4, 2], [6, 6, 3], [13, 6, 6], [9, 4, 1]];
  it.each(LAYOUT_NAMES.flatMap((name) => grouped.map(([s, p, u]) => [name, s, p, u] as const)))(
    '%s S=%i P=%i in groups of %i: each group holds the layout over the groups, split in consecutive runs',
    (name, seqLen, worldSize, groupSize) => {
      const layout = makeLayout(name, seqLen, worldSize, groupSize);
      const groups = makeLayout(name, seqLen, worldSize / groupSize);
      const seen = new Uint8Array(seqLen);
      for (let g = 0; g < worldSize / groupSize; g++) {
        const members = Array.from({ length: groupSize }, (_, u) => Array.from(layout.positions(g * groupSize + u)));
        for (const m of members) expect(m.length).toBeGreaterThan(0);
        // Rank g·U+u holds run u of group g's positions: concatenated in rank order they are the group's.
        expect(members.flat()).toEqual(Array.from(groups.positions(g)));
        for (const p of members.flat()) seen[p]++;
      }
      expect(Array.from(seen).every((c) => c === 1)).toBe(true);
      const sizes = Array.from({ length: worldSize }, (_, r) => layout.shardSize(r));
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(name === 'zigzag' ? 2 : 1);
    },
  );

  it('groups of one are the plain layout; one group of P is contiguous', () => {
    for (const name of LAYOUT_NAMES) {
      const plain = makeLayout(name, 29, 4);
      const ones = makeLayout(name, 29, 4, 1);
      const whole = makeLayout(name, 29, 4, 4);
      const contiguous = makeLayout('contiguous', 29, 4);
      for (let r = 0; r < 4; r++) {
        expect(Array.from(ones.positions(r))).toEqual(Array.from(plain.positions(r)));
        expect(Array.from(whole.positions(r))).toEqual(Array.from(contiguous.positions(r)));
      }
    }
  });

  it('places grouped tokens where docs/layouts.md says', () => {
    // zigzag over 2 groups of 2: chunks of evenSplit(8, 4); group 0 = chunks 0 and 3, group 1 = chunks 1 and 2.
    const z = makeLayout('zigzag', 8, 4, 2);
    expect([0, 1, 2, 3].map((r) => Array.from(z.positions(r)))).toEqual([[0, 1], [6, 7], [2, 3], [4, 5]]);
    const s = makeLayout('striped', 8, 4, 2);
    expect([0, 1, 2, 3].map((r) => Array.from(s.positions(r)))).toEqual([[0, 2], [4, 6], [1, 3], [5, 7]]);
  });

  it('refuses groups that do not divide the world', () => {
    expect(() => makeLayout('contiguous', 12, 6, 4)).toThrow(/groups of 4 ranks do not divide the world size 6/);
  });

  it('refuses a world larger than the sequence with a coded error', () => {
    expect(() => makeLayout('striped', 3, 4)).toThrow(/shorter than the world size/);
    expect(() => makeLayout('ring' as never, 8, 2)).toThrow(/unknown layout/);
  });
});
