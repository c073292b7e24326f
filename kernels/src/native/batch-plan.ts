/**
 * Shapes and per-batch offsets of a (batch) matMul, as tf.matMul defines it:
 * a [...batchA, M, K] (or [..., K, M] with transposeA), b [...batchB, K, N] (or [..., N, K]);
 * batch dims broadcast numpy-style (right-aligned; equal, or 1) into out [...batch, M, N].
 */
export interface BatchPlan {
  outShape: number[];
  M: number;
  N: number;
  K: number;
  /** Element offset of each output batch entry's matrix in a and in b. */
  aOffsets: Float64Array;
  bOffsets: Float64Array;
}

export function planBatchMatMul(aShape: readonly number[], bShape: readonly number[], transposeA: boolean, transposeB: boolean): BatchPlan {
  const ra = aShape.length;
  const rb = bShape.length;
  if (ra < 2 || rb < 2) throw new Error(`Error in matMul: inputs must have rank >= 2, got shapes [${aShape}] and [${bShape}]`);
  const M = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const Ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const Kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const N = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (Ka !== Kb) {
    throw new Error(
      `Error in matMul: inner shapes (${Ka}) and (${Kb}) of Tensors with shapes [${aShape}] and [${bShape}] and ` +
        `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const dimA = (i: number) => batchA[i - (rank - batchA.length)] ?? 1; // right-aligned, padded with 1
  const dimB = (i: number) => batchB[i - (rank - batchB.length)] ?? 1;
  const batchShape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = dimA(i);
    const y = dimB(i);
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`Error in matMul: batch dims of shapes [${aShape}] and [${bShape}] do not broadcast.`);
    }
    batchShape.push(x === 1 ? y : x);
  }
  const count = batchShape.reduce((p, x) => p * x, 1);
  const aOffsets = new Float64Array(count);
  const bOffsets = new Float64Array(count);
  const matA = M * Ka;
  const matB = Ka * N;
  // Walk the output batch index from the last dim; strides of a broadcast (size-1) dim are 0.
  let strideA = matA;
  let strideB = matB;
  let block = 1;
  for (let i = rank - 1; i >= 0; i--) {
    const n = batchShape[i];
    const sa = dimA(i) === 1 ? 0 : strideA;
    const sb = dimB(i) === 1 ? 0 : strideB;
    for (let bi = 0; bi < count; bi++) {
      const idx = Math.floor(bi / block) % n;
      aOffsets[bi] += idx * sa;
      bOffsets[bi] += idx * sb;
    }
    strideA *= dimA(i);
    strideB *= dimB(i);
    block *= n;
  }
  return { outShape: [...batchShape, M, N], M, N, K: Ka, aOffsets, bOffsets };
}
