/**
 * Causal masking from global positions only: query i sees key j iff posK[j] <= posQ[i].
 * Deciding visibility per block first lets kernels skip the mask (every pair visible) or the
 * whole block (no pair visible), which is what ring/striped/zigzag blocks mostly are.
 */
export type BlockVisibility = 'all' | 'none' | 'partial';

export function blockVisibility(posQ: Int32Array, posK: Int32Array, causal: boolean): BlockVisibility {
  if (posQ.length === 0 || posK.length === 0) return 'none';
  if (!causal) return 'all';
  const [minQ, maxQ] = extent(posQ);
  const [minK, maxK] = extent(posK);
  if (maxK <= minQ) return 'all';
  // Otherwise the earliest key is visible to the latest query unless it lies beyond it.
  if (minK > maxQ) return 'none';
  return 'partial';
}

/** Additive mask bias [Sq, Sk] (row-major): 0 where query i sees key j, -Infinity elsewhere. */
export function causalBias(posQ: Int32Array, posK: Int32Array): Float32Array {
  const sq = posQ.length;
  const sk = posK.length;
  const bias = new Float32Array(sq * sk);
  for (let i = 0; i < sq; i++) {
    const pq = posQ[i];
    const row = i * sk;
    for (let j = 0; j < sk; j++) if (posK[j] > pq) bias[row + j] = -Infinity;
  }
  return bias;
}

function extent(pos: Int32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < pos.length; i++) {
    if (pos[i] < lo) lo = pos[i];
    if (pos[i] > hi) hi = pos[i];
  }
  return [lo, hi];
}
