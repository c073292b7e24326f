import { randomArray, seededRandom } from '../../testing/helpers';
import { loadNativeAddon } from './addon';
import { planBatchMatMul } from './batch-plan';
import { buildsUnderTest, nativeRequired } from './native-under-test';
import { sgemm } from './sgemm';
import { nativeStatus } from './status';

// CI has a compiler and OpenBLAS: a native build that silently failed there must fail the run.
(nativeRequired ? test : test.skip)('the native addon is built and loads, with OpenBLAS (required when CI is set)', () => {
  const status = nativeStatus();
  expect(status.reason).toBeNull();
  expect(status.loaded).toBe(true);
  if (process.env.RINGTRAIN_NATIVE_NO_BLAS !== '1') expect(status.blas).toBe('openblas');
  expect(buildsUnderTest.every((b) => b.addon !== null)).toBe(true);
});

test('nativeStatus says either what the addon runs on or why it is not there', () => {
  const s = nativeStatus();
  if (s.loaded) {
    expect(s.reason).toBeNull();
    expect(['openblas', 'fallback']).toContain(s.blas);
    expect(s.defaultThreads).toBeGreaterThanOrEqual(1);
  } else {
    expect(s.blas).toBeNull();
    expect(s.reason).toMatch(/npm run build/);
  }
});

test('a missing addon file gives a reason, not an exception', () => {
  const r = loadNativeAddon({ path: '/nonexistent/ringtrain_native.node' });
  expect(r.addon).toBeNull();
  expect(r.reason).toContain('/nonexistent/ringtrain_native.node');
});

describe('planBatchMatMul', () => {
  test('rank 2: one matrix, no offsets', () => {
    const p = planBatchMatMul([3, 4], [4, 5], false, false);
    expect(p).toMatchObject({ outShape: [3, 5], M: 3, N: 5, K: 4 });
    expect(Array.from(p.aOffsets)).toEqual([0]);
    expect(Array.from(p.bOffsets)).toEqual([0]);
  });

  test('transposes swap the stored dims', () => {
    expect(planBatchMatMul([4, 3], [5, 4], true, true)).toMatchObject({ outShape: [3, 5], M: 3, N: 5, K: 4 });
  });

  test('numpy broadcasting of batch dims: [2,1] with [3] gives [2,3]', () => {
    const p = planBatchMatMul([2, 1, 3, 4], [3, 4, 5], false, false);
    expect(p.outShape).toEqual([2, 3, 3, 5]);
    expect(Array.from(p.aOffsets)).toEqual([0, 0, 0, 12, 12, 12]);
    expect(Array.from(p.bOffsets)).toEqual([0, 20, 40, 0, 20, 40]);
  });

  test('rejects dims that do not broadcast and inner dims that differ', () => {
    expect(() => planBatchMatMul([2, 3, 4], [3, 4, 5], false, false)).toThrow(/broadcast/);
    expect(() => planBatchMatMul([3, 4], [5, 6], false, false)).toThrow(/inner shapes/);
  });
});

/** C = alpha·op(A)·op(B) + beta·C in float64 over strided row-major storage. */
function naiveGemm(
  ta: boolean,
  tb: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  beta: number,
  C: Float32Array,
  ldc: number,
): Float32Array {
  const out = Float32Array.from(C);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      out[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * ldc + j]);
    }
  }
  return out;
}

for (const build of buildsUnderTest) {
  (build.addon ? describe : describe.skip)(build.addon ? `sgemm on the ${build.label}` : `sgemm, native ${build.variant} [skipped: ${build.reason}]`, () => {
    test.each([
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ])('transA %s transB %s, padded strides, alpha and beta', (transA, transB) => {
      const rand = seededRandom(5);
      const [M, N, K] = [37, 45, 300];
      const lda = (transA ? M : K) + 3;
      const ldb = (transB ? K : N) + 5;
      const ldc = N + 2;
      const A = randomArray((transA ? K : M) * lda, rand, 4, true);
      const B = randomArray((transB ? N : K) * ldb, rand, 4, true);
      const C = randomArray(M * ldc, rand, 4, true);
      const want = naiveGemm(transA, transB, M, N, K, 2, A, lda, B, ldb, -1, C, ldc);
      sgemm({ M, N, K, A, B, C, transA, transB, alpha: 2, beta: -1, lda, ldb, ldc }, { variant: build.variant });
      expect(C).toEqual(want);
    });

    test('beta 0 ignores what C held (even NaN); K = 0 gives zeros', () => {
      const C = new Float32Array(6).fill(NaN);
      sgemm({ M: 2, N: 3, K: 1, A: Float32Array.from([1, 2]), B: Float32Array.from([1, 1, 1]), C }, { variant: build.variant });
      expect(Array.from(C)).toEqual([1, 1, 1, 2, 2, 2]);
      const Z = new Float32Array(6).fill(NaN);
      sgemm({ M: 2, N: 3, K: 0, A: new Float32Array(0), B: new Float32Array(0), C: Z }, { variant: build.variant });
      expect(Array.from(Z)).toEqual([0, 0, 0, 0, 0, 0]);
    });

    test('an explicit thread count holds for that call only, and every count gives the same product', () => {
      const addon = build.addon!;
      const own = addon.info().defaultThreads;
      const rand = seededRandom(9);
      const [M, N, K] = [256, 192, 160]; // big enough for OpenBLAS to split over threads
      const A = randomArray(M * K, rand, 4, true);
      const B = randomArray(K * N, rand, 4, true);
      const want = naiveGemm(false, false, M, N, K, 1, A, K, B, N, 0, new Float32Array(M * N), N);
      for (const threads of [1, 2, 3]) {
        const C = new Float32Array(M * N);
        sgemm({ M, N, K, A, B, C, threads }, { variant: build.variant });
        expect({ threads, equal: C.every((x, i) => x === want[i]) }).toEqual({ threads, equal: true });
        expect(addon.info().defaultThreads).toBe(own);
      }
    });

    test('arrays too short for their shape, or of the wrong type, throw instead of overrunning', () => {
      const addon = build.addon!;
      const A = new Float32Array(6);
      const C = new Float32Array(4);
      expect(() => addon.sgemm(false, false, 2, 2, 3, 1, A, 3, new Float32Array(5), 2, 0, C, 2, 1)).toThrow(/B is too short/);
      expect(() => addon.sgemm(false, false, 2, 2, 3, 1, A, 2, new Float32Array(6), 2, 0, C, 2, 1)).toThrow(/leading dimension/);
      const f64 = new Float64Array(6) as unknown as Float32Array;
      expect(() => addon.sgemm(false, false, 2, 2, 3, 1, f64, 3, new Float32Array(6), 2, 0, C, 2, 1)).toThrow(/Float32Array/);
      const pos = new Int32Array(3);
      const q = new Float32Array(3 * 4);
      expect(() => addon.attentionForward(q, q, q, pos, pos, null, null, 1, 1, 3, 3, 4, true, 1, new Float32Array(11), new Float32Array(3), 1)).toThrow(
        /out has 11 elements, expected 12/,
      );
    });
  });
}
