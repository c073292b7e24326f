import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from '../backend';
import { BINARY_OPS, binaryKernel } from './binary';
import { expectSameAsOriginal, randomTensor, seededRandom } from '../../testing/compare-kernels';

const NAMES = Object.keys(BINARY_OPS);
const SIZES = [0, 1, 1, 2, 3, 5, 7];

/** A broadcast-compatible pair: each operand a right-aligned suffix of the output with some dims 1. */
function randomPair(rand: () => number): [number[], number[]] {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const out = Array.from({ length: Math.floor(rand() * 6) }, () => pick(SIZES));
  const operand = () => out.slice(Math.floor(rand() * (out.length + 1))).map((d) => (rand() < 0.35 ? 1 : d));
  return [operand(), operand()];
}

const FIXED: Array<[number[], number[]]> = [
  [[], []], [[], [3, 4]], [[3, 4], []], [[1], [1]],
  [[5, 7], [5, 1]], [[5, 1], [5, 7]], [[5, 7], [1, 7]], [[5, 1], [1, 7]], [[7], [3, 7]], [[3, 7], [7]],
  [[33, 4, 8], [33, 1, 8]], [[2, 3, 1, 4], [1, 3, 5, 1]], [[6, 1, 1, 1, 5], [1, 2, 3, 4, 1]],
  [[0, 3], [1, 3]], [[2, 0], [2, 1]], [[2, 0], []], [[67, 129], [67, 129]], [[67, 129], [67, 1]],
];

beforeAll(() => ensureCpuBackend({ quiet: true }));

describe.each(NAMES)('fast %s matches tfjs bit for bit', (name) => {
  const original = tf.getKernel(name, 'cpu').kernelFunc;
  const fast = binaryKernel(name, original);
  const check = (aShape: number[], bShape: number[], seed: number) =>
    tf.tidy(() => {
      const rand = seededRandom(seed);
      const a = randomTensor(aShape, 'float32', rand);
      const b = randomTensor(bShape, 'float32', rand);
      expectSameAsOriginal(`${name} ${JSON.stringify(aShape)}·${JSON.stringify(bShape)}`, fast, original, { a, b });
    });

  it('on fixed broadcast patterns', () => FIXED.forEach(([a, b], i) => check(a, b, i)));

  it('on 300 random shape pairs, ranks 0-5', () => {
    const rand = seededRandom(NAMES.indexOf(name) + 1);
    for (let i = 0; i < 300; i++) check(...randomPair(rand), 1000 + i);
  });

  it('rejects incompatible shapes as tfjs does', () =>
    tf.tidy(() => expectSameAsOriginal(`${name} [3,4]·[5,4]`, fast, original, { a: tf.ones([3, 4]), b: tf.ones([5, 4]) })));

  it('hands int32 and complex64 to the tfjs kernel', () =>
    tf.tidy(() => {
      const rand = seededRandom(7);
      const a = randomTensor([4, 1, 3], 'int32', rand);
      const b = tf.add(randomTensor([5, 1], 'int32', rand), 1001); // no zero divisors
      expectSameAsOriginal(`${name} int32`, fast, original, { a, b });
      if (name === tf.Add || name === tf.Sub || name === tf.Multiply) {
        const c = tf.complex([1, 2, 3], [4, 5, 6]);
        const got = fast({ inputs: { a: c, b: c }, backend: tf.backend(), attrs: {} }) as tf.TensorInfo;
        expect(got.dtype).toBe('complex64');
      }
    }));
});
