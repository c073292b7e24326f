import { RingtrainError } from '@ringtrain/core';
import { loadNativeAddon, type LoadNativeOptions } from './addon';

/** Row-major C[M,N] = alpha·op(A)·op(B) + beta·C on plain Float32Arrays (no tfjs). */
export interface SgemmArgs {
  M: number;
  N: number;
  K: number;
  A: Float32Array; // [M,K], or [K,M] with transA
  B: Float32Array; // [K,N], or [N,K] with transB
  C: Float32Array; // [M,N], written in place
  transA?: boolean;
  transB?: boolean;
  alpha?: number; // default 1
  beta?: number; // default 0: C is overwritten, never read
  /** Row strides; default the packed row length. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** 0 (default): OpenBLAS's count (OPENBLAS_NUM_THREADS); the portable gemm uses the same. */
  threads?: number;
}

/**
 * The addon's sgemm: cblas_sgemm on the default build with OpenBLAS, else the portable kernel
 * (`{ variant: 'noblas' }` forces it). For benchmarks: this is the machine's sgemm throughput.
 * Throws NATIVE_UNAVAILABLE when the addon is not built.
 */
export function sgemm(args: SgemmArgs, opts: LoadNativeOptions = {}): void {
  const r = loadNativeAddon(opts);
  if (r.addon === null) {
    throw new RingtrainError('NATIVE_UNAVAILABLE', `native sgemm unavailable: ${r.reason}`, {
      hint: 'Check nativeStatus().loaded first; `npm run build` builds the addon when a C++ compiler is present.',
    });
  }
  const { M, N, K, A, B, C } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const lda = args.lda ?? Math.max(1, transA ? M : K);
  const ldb = args.ldb ?? Math.max(1, transB ? K : N);
  const ldc = args.ldc ?? Math.max(1, N);
  r.addon.sgemm(transA, transB, M, N, K, args.alpha ?? 1, A, lda, B, ldb, args.beta ?? 0, C, ldc, args.threads ?? 0);
}
