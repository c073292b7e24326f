import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from '../backend';
import { expectClose, randomArray, seededRandom } from '../../testing/helpers';
import { installNativeKernels, nativeKernelsInstalled, uninstallNativeKernels } from './matmul-kernels';
import { buildsUnderTest } from './native-under-test';

beforeAll(() => ensureCpuBackend({ quiet: true }));
afterEach(() => uninstallNativeKernels());

interface MatMulCase {
  name: string;
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
}

const cases: MatMulCase[] = [
  { name: 'rank 2, 7x13 · 13x5', a: [7, 13], b: [13, 5] },
  { name: 'rank 2, transposeA', a: [13, 7], b: [13, 5], transposeA: true },
  { name: 'rank 2, transposeB', a: [7, 13], b: [5, 13], transposeB: true },
  { name: 'rank 2, both transposed', a: [13, 7], b: [5, 13], transposeA: true, transposeB: true },
  { name: '1x1 · 1x1', a: [1, 1], b: [1, 1] },
  { name: 'vector times matrix, 1x300 · 300x1', a: [1, 300], b: [300, 1] },
  { name: 'odd sizes across gemm blocks, 129x300 · 300x257', a: [129, 300], b: [300, 257] },
  { name: 'big enough to split over threads, 300x200 · 200x100', a: [300, 200], b: [200, 100] },
  { name: 'rank 3, same batch', a: [4, 9, 11], b: [4, 11, 6] },
  { name: 'rank 3, transposed both', a: [4, 11, 9], b: [4, 6, 11], transposeA: true, transposeB: true },
  { name: 'rank 3 · rank 2 (b broadcast)', a: [3, 9, 11], b: [11, 6] },
  { name: 'rank 2 · rank 3 (a broadcast), transposeB', a: [9, 11], b: [3, 6, 11], transposeB: true },
  { name: 'batch 1 · batch 5', a: [1, 9, 11], b: [5, 11, 6] },
  { name: 'rank 4, same batch dims', a: [2, 3, 9, 11], b: [2, 3, 11, 6] },
  { name: 'rank 4 · rank 3, transposeA', a: [2, 3, 11, 9], b: [3, 11, 6], transposeA: true },
  { name: 'empty rows, 0x5 · 5x3', a: [0, 5], b: [5, 3] },
  { name: 'empty inner dim, 4x0 · 0x3 (zeros)', a: [4, 0], b: [0, 3] },
  { name: 'empty batch, 0x4x5 · 0x5x3', a: [0, 4, 5], b: [0, 5, 3] },
  { name: 'empty columns, 2x4x5 · 2x5x0', a: [2, 4, 5], b: [2, 5, 0] },
];

const size = (shape: number[]) => shape.reduce((p, x) => p * x, 1);

/** Small integers: every product and sum is exact in fp32, so results must match bit for bit. */
function intTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomArray(size(shape), seededRandom(seed), 4, true), shape);
}

function matMulResult(c: MatMulCase, seed = 1): { shape: number[]; values: Float32Array } {
  return tf.tidy(() => {
    const r = tf.matMul(intTensor(c.a, seed), intTensor(c.b, seed + 1), c.transposeA, c.transposeB);
    return { shape: r.shape, values: r.dataSync() as Float32Array };
  });
}

test('uninstall restores the tfjs kernels exactly', () => {
  const before = tf.getKernel('BatchMatMul', 'cpu').kernelFunc;
  const fusedBefore = tf.getKernel('_FusedMatMul', 'cpu').kernelFunc;
  uninstallNativeKernels(); // a no-op when nothing is installed
  expect(nativeKernelsInstalled()).toBe(false);
  const r = installNativeKernels();
  if (r.installed) {
    expect(tf.getKernel('BatchMatMul', 'cpu').kernelFunc).not.toBe(before);
    installNativeKernels({ variant: 'noblas' }); // swapping builds keeps the first originals
  }
  uninstallNativeKernels();
  expect(tf.getKernel('BatchMatMul', 'cpu').kernelFunc).toBe(before);
  expect(tf.getKernel('_FusedMatMul', 'cpu').kernelFunc).toBe(fusedBefore);
});

for (const build of buildsUnderTest) {
  const describeOrSkip = build.addon ? describe : describe.skip;
  const title = build.addon ? `tf.matMul on the ${build.label}` : `tf.matMul on the native ${build.variant} build [skipped: ${build.reason}]`;

  describeOrSkip(title, () => {
    const install = () => {
      const r = installNativeKernels({ variant: build.variant });
      expect(r).toEqual({ installed: true, blas: build.addon?.info().blas === 'openblas' });
    };

    test.each(cases)('$name: same values and shape as the tfjs kernel', (c) => {
      const js = matMulResult(c);
      install();
      const native = matMulResult(c);
      expect(native.shape).toEqual(js.shape);
      expect(native.values).toEqual(js.values);
    });

    test('mixed broadcasting [2,1,M,K] · [3,K,N] follows numpy (tfjs-cpu does not)', () => {
      const a = intTensor([2, 1, 5, 7], 3);
      const b = intTensor([3, 7, 4], 4);
      // Expected from explicitly broadcast operands, where every kernel agrees.
      const want = tf.matMul(tf.broadcastTo(a, [2, 3, 5, 7]), tf.broadcastTo(b, [2, 3, 7, 4]));
      install();
      const got = tf.matMul(a, b);
      expect(got.shape).toEqual([2, 3, 5, 4]);
      expect(got.dataSync()).toEqual(want.dataSync());
      tf.dispose([a, b, want, got]);
    });

    test('random floats: agrees with the tfjs kernel to fp32 rounding', () => {
      const rand = seededRandom(7);
      const a = tf.tensor(randomArray(3 * 130 * 70, rand), [3, 130, 70]);
      const b = tf.tensor(randomArray(70 * 90, rand), [70, 90]);
      const want = tf.matMul(a, b);
      install();
      const got = tf.matMul(a, b);
      expectClose('matMul', got.dataSync(), want.dataSync());
      tf.dispose([a, b, want, got]);
    });

    test.each([
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ])('gradients through tf.matMul (transposeA %s, transposeB %s) match', (transposeA, transposeB) => {
      // (tfjs's matMul gradient does not reduce broadcast batch dims, so the shapes match here.)
      const grads = () =>
        tf.tidy(() => {
          const a = intTensor(transposeA ? [2, 5, 6] : [2, 6, 5], 11);
          const b = intTensor(transposeB ? [2, 4, 5] : [2, 5, 4], 12);
          const w = intTensor([2, 6, 4], 13);
          const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, transposeA, transposeB), w));
          return tf.grads(loss)([a, b]).map((g) => g.dataSync());
        });
      const js = grads();
      install();
      expect(grads()).toEqual(js);
    });

    test.each(['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const)('tf.fused.matMul with bias and %s', (activation) => {
      const run = () =>
        tf.tidy(() => {
          const a = intTensor([2, 6, 5], 21);
          const b = intTensor([2, 5, 4], 22);
          const bias = intTensor([4], 23);
          const preluActivationWeights = activation === 'prelu' ? tf.fill([4], 0.5) : undefined;
          const r = tf.fused.matMul({ a, b, bias, activation, preluActivationWeights, leakyreluAlpha: 0.25, transposeB: false });
          return r.dataSync();
        });
      const js = run();
      install();
      const before = tf.memory().numTensors;
      const native = run();
      expect(tf.memory().numTensors).toBe(before);
      expectClose(activation, native, js, 1e-6);
    });

    test('int32 matMul still runs (tfjs kernel)', () => {
      install();
      const r = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32'));
      expect(r.dtype).toBe('int32');
      expect(Array.from(r.dataSync())).toEqual([19, 22, 43, 50]);
      r.dispose();
    });

    test('mismatched inner dims throw as with tfjs', () => {
      install();
      const a = tf.zeros([3, 4]);
      const b = tf.zeros([5, 2]);
      expect(() => tf.matMul(a, b)).toThrow(/inner shapes|must match/);
      tf.dispose([a, b]);
    });
  });
}
