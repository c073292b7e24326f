import { errorStats } from './error-stats';

describe('errorStats', () => {
  test('relative error is max |a - b| over max |b|', () => {
    const s = errorStats([1, 2.5, -4], [1, 2, -5]);
    expect(s).toMatchObject({ maxAbs: 1, maxRef: 5, rel: 0.2, nan: 0 });
    expect(s.meanAbs).toBeCloseTo(0.5, 12);
  });

  test('matching infinities are exact; NaN or a lost -inf is an infinite error', () => {
    expect(errorStats([-Infinity, 1], [-Infinity, 1]).rel).toBe(0);
    expect(errorStats([0, 1], [-Infinity, 1]).rel).toBe(Infinity);
    const nan = errorStats([NaN, 1], [0, 1]);
    expect(nan.nan).toBe(1);
    expect(nan.rel).toBe(Infinity);
  });

  test('an all-zero reference falls back to the absolute error', () => {
    expect(errorStats([0, 1e-3], [0, 0]).rel).toBe(1e-3);
  });
});
