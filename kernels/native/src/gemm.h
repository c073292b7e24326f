// Row-major single-precision matrix multiply: C[M×N] = alpha · op(A) · op(B) + beta · C.
// op(A) is A [M×K] (row stride lda) or, with transA, Aᵀ where A is stored [K×M]; same for B.
// beta == 0 never reads C, so C may start as garbage (as in BLAS).
#pragma once

#include "simd.h"

namespace rt {

// The portable blocked kernel (always built; the only one in the no-BLAS variant).
void gemm_portable(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda,
                   const float* B, long ldb, float beta, float* C, long ldc);

// cblas_sgemm when the addon was built with OpenBLAS, else gemm_portable. Handles M, N or K = 0.
void gemm(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda, const float* B,
          long ldb, float beta, float* C, long ldc);

// Rows of C one micro-kernel call computes; tiles that are a multiple of it have no ragged edge.
#if defined(__AVX512F__)
constexpr int kMicroRows = 8;
#else
constexpr int kMicroRows = 6;
#endif

// --- Small products whose operands already sit in cache (attention tiles) -------------------
// No cache blocking and, mostly, no packing: the micro-kernel reads A and a row-major B where
// they lie. Only a transposed B must be rearranged, into column panels: pack it once with
// pack_bt and reuse it for every product against the same matrix.

// Columns per packed panel: the panels of columns [j, N) (j a multiple of it) start at packed + j·K,
// so a product may use a column range of a packed operand.
constexpr long kPackedPanel = 2 * VL;

// Floats pack_bt writes for a K × N operand.
long packed_size(long K, long N);

// Packs op(B) = Bᵀ, B stored [N×K] at row stride ldb, into the panels gemm_tile reads.
void pack_bt(const float* B, long ldb, long K, long N, float* packed);

// op(B) as gemm_tile reads it: row-major [K×N] at row stride ld, or pack_bt's panels.
struct TileB {
  const float* data;
  long ld;  // ignored when packed
  bool packed;
};

void gemm_tile(bool transA, long M, long N, long K, float alpha, const float* A, long lda, TileB B, float beta,
               float* C, long ldc);

// "openblas" or "fallback": what gemm() dispatches to.
const char* gemm_backend();

// OpenBLAS's own thread count (OPENBLAS_NUM_THREADS); 0 when built without it.
int blas_threads();

// Sets OpenBLAS's thread count for the calls that follow (process-wide); no-op without it.
void set_blas_threads(int n);

// The core OpenBLAS picked for this CPU (e.g. "SkylakeX"), or "" without OpenBLAS.
const char* blas_core();

}  // namespace rt
