import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from '../backend';
import { installFastCpuKernels, uninstallFastCpuKernels } from './install';

beforeAll(() => ensureCpuBackend({ quiet: true }));
afterEach(() => uninstallFastCpuKernels());

function run(x: tf.Tensor, ids: tf.Tensor1D, n: number): Float32Array {
  return tf.unsortedSegmentSum(x, ids, n).dataSync() as Float32Array;
}

describe('fast UnsortedSegmentSum', () => {
  const cases: Array<[number[], number]> = [[[7, 5], 4], [[1, 3], 1], [[13, 2, 3], 9], [[0, 4], 3], [[40, 16], 258]];
  it.each(cases)('x %j into %i segments equals tfjs', (shape, n) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 3), shape);
    const ids = tf.tensor1d(Int32Array.from({ length: shape[0] }, (_, i) => (i * 7) % n), 'int32');
    const expected = run(x, ids, n);
    installFastCpuKernels();
    expect(Array.from(run(x, ids, n))).toEqual(Array.from(expected));
  });

  it('makes the gradient of gather (an embedding) equal', () => {
    const E = tf.tensor2d(Float32Array.from({ length: 30 }, (_, i) => i / 7), [10, 3]);
    const idx = tf.tensor1d([3, 1, 3, 9, 0], 'int32');
    const dy = tf.tensor2d(Float32Array.from({ length: 15 }, (_, i) => i - 4), [5, 3]);
    const g = () => tf.grads((e: tf.Tensor) => tf.gather(e, idx))([E], dy)[0].dataSync();
    const expected = Array.from(g());
    installFastCpuKernels();
    expect(Array.from(g())).toEqual(expected);
  });
});
