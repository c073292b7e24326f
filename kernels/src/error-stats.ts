/**
 * How far a result is from the oracle, as the project's checks print it (max/mean error per
 * tensor). Infinities count as equal only when identical (a -inf lse must stay -inf); a NaN
 * anywhere in `actual` is counted and makes the error infinite.
 */
export interface ErrorStats {
  maxAbs: number; // max |actual - expected|
  meanAbs: number;
  maxRef: number; // max |expected| over finite entries
  rel: number; // maxAbs / maxRef (maxAbs itself when expected is all zero)
  nan: number; // NaN entries in actual
}

export function errorStats(actual: ArrayLike<number>, expected: ArrayLike<number>): ErrorStats {
  if (actual.length !== expected.length) {
    throw new Error(`errorStats: lengths differ (${actual.length} vs ${expected.length})`);
  }
  let maxAbs = 0;
  let sumAbs = 0;
  let maxRef = 0;
  let nan = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(a)) nan++;
    if (Number.isFinite(e)) maxRef = Math.max(maxRef, Math.abs(e));
    const err = a === e ? 0 : Math.abs(a - e); // NaN or an unmatched infinity gives NaN/Infinity
    const errOrInf = Number.isNaN(err) ? Infinity : err;
    maxAbs = Math.max(maxAbs, errOrInf);
    sumAbs += errOrInf;
  }
  const rel = maxRef > 0 ? maxAbs / maxRef : maxAbs;
  return { maxAbs, meanAbs: actual.length > 0 ? sumAbs / actual.length : 0, maxRef, rel, nan };
}
