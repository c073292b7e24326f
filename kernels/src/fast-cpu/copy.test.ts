import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from '../backend';
import { sliceKernel, splitVKernel, transposeKernel } from './copy';
import { expectSameAsOriginal, randomTensor, seededRandom } from '../../testing/compare-kernels';

const DTYPES = ['float32', 'int32'] as const;

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/** Per rank: shapes with odd sizes, size-1 dims and an empty dim. */
const SHAPES: number[][][] = [
  [[]],
  [[1], [7], [0], [100]],
  [[3, 5], [1, 7], [7, 1], [67, 45], [2, 0], [130, 33]],
  [[2, 3, 5], [3, 1, 4], [33, 4, 8], [1, 1, 1], [4, 0, 3]],
  [[2, 3, 4, 5], [1, 37, 4, 16], [3, 1, 5, 1], [2, 2, 0, 3], [5, 3, 34, 3]],
];

beforeAll(() => ensureCpuBackend({ quiet: true }));

describe('fast Transpose matches tfjs bit for bit', () => {
  const original = tf.getKernel(tf.Transpose, 'cpu').kernelFunc;
  const fast = transposeKernel(original);
  const check = (shape: number[], perm: number[], dtype: (typeof DTYPES)[number], seed: number) =>
    tf.tidy(() => {
      const x = randomTensor(shape, dtype, seededRandom(seed));
      expectSameAsOriginal(`transpose ${dtype} ${JSON.stringify(shape)} perm ${perm}`, fast, original, { x }, { perm });
    });

  it.each(DTYPES)('%s: every permutation of ranks 0-4', (dtype) => {
    SHAPES.forEach((shapes, rank) => shapes.forEach((shape, i) => permutations(rank).forEach((perm) => check(shape, perm, dtype, 10 * rank + i))));
  });

  it.each(DTYPES)('%s: random permutations of rank 5', (dtype) => {
    const rand = seededRandom(5);
    for (let i = 0; i < 60; i++) {
      const shape = Array.from({ length: 5 }, () => [0, 1, 1, 2, 3, 5][Math.floor(rand() * 6)]);
      const perm = permutations(5)[Math.floor(rand() * 120)];
      check(shape, perm, dtype, 500 + i);
    }
  });

  it('hands bool to the tfjs kernel', () =>
    tf.tidy(() => expectSameAsOriginal('transpose bool', fast, original, { x: tf.tensor([[true, false, true]], [1, 3], 'bool') }, { perm: [1, 0] })));
});

describe('fast Slice matches tfjs bit for bit', () => {
  const original = tf.getKernel(tf.Slice, 'cpu').kernelFunc;
  const fast = sliceKernel(original);
  const check = (shape: number[], begin: number | number[], size: number | number[] | undefined, dtype: (typeof DTYPES)[number], seed: number) =>
    tf.tidy(() => {
      const x = randomTensor(shape, dtype, seededRandom(seed));
      const what = `slice ${dtype} ${JSON.stringify(shape)} begin ${JSON.stringify(begin)} size ${JSON.stringify(size)}`;
      expectSameAsOriginal(what, fast, original, { x }, { begin, size } as tf.NamedAttrMap);
    });

  // From rank 1: tf.slice refuses scalars (and tfjs's kernel would return no values for one).
  it.each(DTYPES)('%s: random begin/size (0, -1 = to the end, full) on ranks 1-4', (dtype) => {
    const rand = seededRandom(dtype === 'int32' ? 2 : 1);
    let seed = 0;
    for (const shapes of SHAPES.slice(1)) {
      for (const shape of shapes) {
        for (let t = 0; t < 25; t++) {
          const begin = shape.map((d) => Math.floor(rand() * (d + 1)));
          const size = shape.map((d, k) => [-1, 0, d - begin[k], Math.floor(rand() * (d - begin[k] + 1))][Math.floor(rand() * 4)]);
          check(shape, begin, size, dtype, seed++);
        }
      }
    }
  });

  it.each(DTYPES)('%s: shorthand begin/size, contiguous and strided', (dtype) => {
    const shape = [6, 5, 4];
    check(shape, 2, undefined, dtype, 1); // begin number, size omitted
    check(shape, 1, 3, dtype, 2); // size number: -1 for the other dims
    check(shape, [1, 2], [2, 3], dtype, 3); // short arrays: begin 0, size -1 for the rest
    check(shape, [0, 0, 1], [-1, -1, 2], dtype, 4); // the RoPE half-split of the last dim
    check(shape, [0, 0, 0], [6, 5, 4], dtype, 5); // the whole tensor
  });

  it('rejects what tfjs rejects: begin -1, size < -1, overflow', () => {
    check([4, 5], [-1, 0], [1, 1], 'float32', 1);
    check([4, 5], [0, 0], [-2, 1], 'float32', 2);
    check([4, 5], [3, 0], [2, 5], 'float32', 3);
  });

  it('hands bool to the tfjs kernel', () =>
    tf.tidy(() => expectSameAsOriginal('slice bool', fast, original, { x: tf.tensor([[true, false, true]], [1, 3], 'bool') }, { begin: [0, 1], size: [1, 2] })));
});

describe('fast SplitV matches tfjs bit for bit', () => {
  const original = tf.getKernel(tf.SplitV, 'cpu').kernelFunc;
  const fast = splitVKernel(original);
  const CASES: Array<[number[], number | number[], number]> = [
    [[33, 4, 8], 2, 2], // RoPE halves
    [[33, 4, 8], 2, -1],
    [[6, 5, 4], [1, 3, 1], 1],
    [[6, 5, 4], [2, -1], 0],
    [[7, 9], 3, 1],
    [[7, 9], [0, 9], 1],
    [[2, 3, 4, 5], 5, 3],
    [[12], [5, 7], 0],
  ];
  it.each(DTYPES)('%s', (dtype) =>
    CASES.forEach(([shape, numOrSizeSplits, axis], i) =>
      tf.tidy(() => {
        const x = randomTensor(shape, dtype, seededRandom(i));
        expectSameAsOriginal(`split ${dtype} ${JSON.stringify(shape)} ${JSON.stringify(numOrSizeSplits)} axis ${axis}`, fast, original, { x }, { numOrSizeSplits, axis });
      }),
    ));
});
