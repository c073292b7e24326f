/**
 * The walk shared by the fast CPU kernels. Each operand is described by its element stride along
 * every output dim (0 where it broadcasts) plus a base offset, so broadcasting, transposing and
 * slicing are one loop nest: an odometer over the outer dims, a tight loop over the inner block.
 */

export type Values = Float32Array | Int32Array;

/** Output dims and, per operand, the stride along each of them. */
export interface Walk {
  shape: number[];
  strides: number[][];
}

/** Row-major strides of a contiguous tensor: [2, 3, 4] -> [12, 4, 1]. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/**
 * Drops size-1 dims and merges a dim into its outer neighbour wherever that is contiguous for
 * every operand (outer stride = inner stride · inner size), so the inner loop runs as long as
 * possible: same shapes and scalars become one run; [N,M]·[N,1] stays [N,M] with strides [M,1],[1,0].
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Walk {
  const walk: Walk = { shape: [], strides: strides.map(() => []) };
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = walk.shape.length - 1;
    if (last >= 0 && strides.every((s, k) => walk.strides[k][last] === s[d] * shape[d])) {
      walk.shape[last] *= shape[d];
      strides.forEach((s, k) => (walk.strides[k][last] = s[d]));
    } else {
      walk.shape.push(shape[d]);
      strides.forEach((s, k) => walk.strides[k].push(s[d]));
    }
  }
  return walk;
}

/**
 * Calls block(o, a, b) once per index of the outer dims (all but the last `innerRank`), with o the
 * block's flat output offset and a, b the two operands' offsets (b is ignored by one-operand walks).
 * The outer dims are walked with an odometer: only additions, nothing allocated per block.
 */
export function forEachBlock(walk: Walk, innerRank: number, aBase: number, block: (o: number, a: number, b: number) => void): void {
  const { shape } = walk;
  const [aStrides, bStrides = aStrides] = walk.strides;
  const outer = Math.max(shape.length - innerRank, 0);
  const blockSize = sizeOf(shape.slice(outer));
  const total = sizeOf(shape);
  const index = new Array<number>(outer).fill(0);
  let a = aBase;
  let b = 0;
  for (let o = 0; o < total; o += blockSize) {
    block(o, a, b);
    for (let d = outer - 1; d >= 0; d--) {
      a += aStrides[d];
      b += bStrides[d];
      if (++index[d] < shape[d]) break;
      a -= aStrides[d] * shape[d];
      b -= bStrides[d] * shape[d];
      index[d] = 0;
    }
  }
}
