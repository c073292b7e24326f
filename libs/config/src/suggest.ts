/** ` (did you mean "x"?)` when a candidate is within edit distance 3 of `word`, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best = '';
  let bestDist = Math.min(3, Math.max(1, Math.floor(word.length / 2)));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}
