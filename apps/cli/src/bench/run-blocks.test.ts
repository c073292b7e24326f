import { blockCases, visibleShare } from './run-blocks';

function bruteShare(posQ: Int32Array, posK: Int32Array): number {
  let seen = 0;
  for (const q of posQ) for (const k of posK) if (k <= q) seen++;
  return seen / (posQ.length * posK.length);
}

describe('bench kernels --blocks: the blocks of a P = 2 step', () => {
  it.each([16, 37, 256])('S = %i: every case is a block of the layout, with its exact visible share', (S) => {
    const cases = blockCases(S);
    expect(cases[0].work).toBe(1); // the full block comes first: every ratio is to it
    for (const c of cases) {
      expect(c.posQ.length + c.posK.length).toBeGreaterThanOrEqual(S - 1);
      expect(c.work).toBeCloseTo(bruteShare(c.posQ, c.posK), 12);
    }
    const byName = Object.fromEntries(cases.map((c) => [c.name, c.work]));
    if (S % 4 === 0) {
      const b = S / 2;
      expect(byName['striped 0 <- 1 (keys strictly before)']).toBeCloseTo((b - 1) / (2 * b), 12);
      expect(byName['striped 1 <- 0 (keys at or before)']).toBeCloseTo((b + 1) / (2 * b), 12);
      expect(byName['zigzag 0 <- 1']).toBeCloseTo(0.5, 12);
    }
  });

  it('visibleShare of empty blocks is 0', () => {
    expect(visibleShare(new Int32Array(0), Int32Array.of(1))).toBe(0);
  });
});
