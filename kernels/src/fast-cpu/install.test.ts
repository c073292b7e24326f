import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from '../backend';
import { installFastCpuKernels, uninstallFastCpuKernels } from './index';
import { seededRandom } from '../../testing/compare-kernels';

const REPLACED = [tf.Add, tf.Sub, tf.Multiply, tf.RealDiv, tf.Maximum, tf.Minimum, tf.SquaredDifference, tf.Transpose, tf.Slice, tf.SplitV, tf.UnsortedSegmentSum];

beforeAll(() => ensureCpuBackend({ quiet: true }));
afterEach(() => uninstallFastCpuKernels());

describe('installFastCpuKernels', () => {
  it('replaces the listed cpu kernels, idempotently, and uninstall restores the originals', () => {
    const before = REPLACED.map((name) => tf.getKernel(name, 'cpu').kernelFunc);
    expect([...installFastCpuKernels().installed].sort()).toEqual([...REPLACED].sort());
    const fast = REPLACED.map((name) => tf.getKernel(name, 'cpu').kernelFunc);
    fast.forEach((f, i) => expect(f).not.toBe(before[i]));
    expect([...installFastCpuKernels().installed].sort()).toEqual([...REPLACED].sort());
    uninstallFastCpuKernels();
    REPLACED.forEach((name, i) => expect(tf.getKernel(name, 'cpu').kernelFunc).toBe(before[i]));
    uninstallFastCpuKernels(); // a no-op now
    REPLACED.forEach((name, i) => expect(tf.getKernel(name, 'cpu').kernelFunc).toBe(before[i]));
  });

  it('leaves gradients unchanged: tf.grads through broadcast ops, transpose, slice and split', () => {
    // x [6,4,8] with a gain g [1,8] and a column c [6,1,1] broadcast; RoPE-like halves; a head transpose.
    const f = (x: tf.Tensor, g: tf.Tensor, c: tf.Tensor) => {
      const y = tf.add(tf.mul(x, g), tf.div(x, tf.add(tf.square(c), 1)));
      const [lo, hi] = tf.split(y, 2, 2);
      const r = tf.concat([tf.sub(lo, tf.mul(hi, c)), tf.maximum(hi, tf.minimum(lo, 0.5))], 2);
      const t = tf.transpose(tf.reshape(r, [2, 3, 4, 8]), [0, 2, 1, 3]);
      const mid = tf.slice(y, [1, 1, 2], [4, -1, 5]);
      return tf.add(tf.sum(tf.mul(tf.squaredDifference(t, 0.25), tf.range(0, 8, 1, 'float32'))), tf.sum(tf.mul(mid, mid)));
    };
    const rand = seededRandom(3);
    const values = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
    const inputs = [tf.tensor(values(192), [6, 4, 8]), tf.tensor(values(8), [1, 8]), tf.tensor(values(6), [6, 1, 1])];
    const gradients = () => tf.tidy(() => tf.grads(f)(inputs).map((g) => g.dataSync().slice()));
    const slow = gradients();
    installFastCpuKernels();
    const fast = gradients();
    fast.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(slow[i].buffer))).toBe(true));
    expect(slow.map((g) => g.length)).toEqual([192, 8, 6]);
    inputs.forEach((t) => t.dispose());
  });

  it('keeps int32 and complex64 ops working through the fallback', () => {
    installFastCpuKernels();
    tf.tidy(() => {
      expect(Array.from(tf.add(tf.tensor([1, 2, 3], [3, 1], 'int32'), tf.tensor([10, 20], [2], 'int32')).dataSync())).toEqual([11, 21, 12, 22, 13, 23]);
      expect(Array.from(tf.real(tf.mul(tf.complex([1], [2]), tf.complex([3], [4]))).dataSync())).toEqual([-5]);
      expect(Array.from(tf.transpose(tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32')).dataSync())).toEqual([1, 3, 2, 4]);
    });
  });
});
