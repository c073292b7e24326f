// The portable sgemm: one register-tiled micro-kernel written with GCC/Clang vector extensions
// (so the compiler emits AVX-512, AVX2 or SSE/NEON code from one source, depending on -march),
// driven two ways: the classic packed, cache-blocked loop nest (GotoBLAS / BLIS shape) for big
// matrices, and gemm_tile for cache-resident attention tiles, which skips packing.
#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "simd.h"

#ifdef RT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace rt {
namespace {

constexpr int MR = kMicroRows;  // rows of C per micro-tile (8 × 2 vectors: 16 of 32 AVX-512 registers)
constexpr int NR = kPackedPanel;  // columns of C per micro-tile
constexpr int NV = NR / VL;      // vectors per row of a micro-tile
constexpr long KC = 256;      // depth of one packed panel pair
constexpr long MC = MR * 24;  // rows of A packed at once (stays in L2)
constexpr long NC = 2048;     // columns of B packed at once

// C[MR×NR] (row stride ldc) = alpha · A · B + beta · C over depth kc, where A's element (i, k)
// is a[k*lda + i] (kAColumns: a packed panel, or a transposed operand) or a[i*lda + k], and
// row k of B's NR columns starts at b + k*ldb.
template <bool kAColumns>
inline void micro_kernel(long kc, const float* __restrict a, long lda, const float* __restrict b, long ldb,
                         float* __restrict c, long ldc, float alpha, float beta) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = vf{};
  for (long k = 0; k < kc; ++k) {
    vf bk[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bk[v] = load(b + k * ldb + v * VL);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const vf ai = splat(kAColumns ? a[k * lda + i] : a[i * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bk[v];
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* out = c + i * ldc + v * VL;
      store(out, beta == 0.0f ? alpha * acc[i][v] : alpha * acc[i][v] + beta * load(out));
    }
  }
}

// Edge tile: the full micro-tile into scratch, then the valid mr × nr corner into C.
template <bool kAColumns>
inline void micro_kernel_edge(long kc, const float* a, long lda, const float* b, long ldb, float* c, long ldc,
                              float alpha, float beta, int mr, int nr) {
  alignas(64) float tmp[MR * NR];
  micro_kernel<kAColumns>(kc, a, lda, b, ldb, tmp, NR, 1.0f, 0.0f);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      float& out = c[i * ldc + j];
      out = beta == 0.0f ? alpha * tmp[i * NR + j] : alpha * tmp[i * NR + j] + beta * out;
    }
}

// Packs rows [i0, i0+mc) × depth [p0, p0+kc) of op(A) into MR-row panels (element (i, k) of a
// panel at k*MR + i), zero-padding the last panel.
void pack_a(bool trans, const float* A, long lda, long i0, long mc, long p0, long kc, float* buf) {
  for (long ir = 0; ir < mc; ir += MR) {
    const long rows = std::min<long>(MR, mc - ir);
    float* panel = buf + ir * kc;
    for (long k = 0; k < kc; ++k) {
      for (long i = 0; i < rows; ++i) {
        panel[k * MR + i] = trans ? A[(p0 + k) * lda + i0 + ir + i] : A[(i0 + ir + i) * lda + p0 + k];
      }
      for (long i = rows; i < MR; ++i) panel[k * MR + i] = 0.0f;
    }
  }
}

// Packs depth [p0, p0+kc) × columns [j0, j0+nc) of op(B) into NR-column panels (element (k, j)
// of a panel at k*NR + j), zero-padding the last panel.
void pack_b(bool trans, const float* B, long ldb, long p0, long kc, long j0, long nc, float* buf) {
  for (long jr = 0; jr < nc; jr += NR) {
    const long cols = std::min<long>(NR, nc - jr);
    float* panel = buf + jr * kc;
    if (!trans && cols == NR) {
      for (long k = 0; k < kc; ++k) {
        const float* src = B + (p0 + k) * ldb + j0 + jr;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) store(panel + k * NR + v * VL, load(src + v * VL));
      }
      continue;
    }
    for (long k = 0; k < kc; ++k) {
      for (long j = 0; j < cols; ++j) {
        panel[k * NR + j] = trans ? B[(j0 + jr + j) * ldb + p0 + k] : B[(p0 + k) * ldb + j0 + jr + j];
      }
      for (long j = cols; j < NR; ++j) panel[k * NR + j] = 0.0f;
    }
  }
}

// 64-byte aligned scratch, one per thread, grown on demand and kept (no malloc per call).
float* scratch(std::vector<float>& v, long n) {
  if (static_cast<long>(v.size()) < n + 16) v.resize(n + 16);
  const auto addr = reinterpret_cast<std::uintptr_t>(v.data());
  return v.data() + ((64 - addr % 64) % 64) / sizeof(float);
}

void scale_c(long M, long N, float beta, float* C, long ldc) {
  for (long i = 0; i < M; ++i)
    for (long j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

}  // namespace

void gemm_portable(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda,
                   const float* B, long ldb, float beta, float* C, long ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  thread_local std::vector<float> abuf, bbuf;
  const long ncMax = std::min(NC, (N + NR - 1) / NR * NR);
  float* bp = scratch(bbuf, std::min(KC, K) * ncMax);
  float* ap = scratch(abuf, std::min(KC, K) * std::min(MC, (M + MR - 1) / MR * MR));
  for (long j0 = 0; j0 < N; j0 += NC) {
    const long nc = std::min(NC, N - j0);
    for (long p0 = 0; p0 < K; p0 += KC) {
      const long kc = std::min(KC, K - p0);
      const float b = p0 == 0 ? beta : 1.0f;  // later depth panels accumulate
      pack_b(transB, B, ldb, p0, kc, j0, nc, bp);
      for (long i0 = 0; i0 < M; i0 += MC) {
        const long mc = std::min(MC, M - i0);
        pack_a(transA, A, lda, i0, mc, p0, kc, ap);
        for (long jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<long>(NR, nc - jr));
          for (long ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<long>(MR, mc - ir));
            float* c = C + (i0 + ir) * ldc + j0 + jr;
            const float* a = ap + ir * kc;
            if (mr == MR && nr == NR) {
              micro_kernel<true>(kc, a, MR, bp + jr * kc, NR, c, ldc, alpha, b);
            } else {
              micro_kernel_edge<true>(kc, a, MR, bp + jr * kc, NR, c, ldc, alpha, b, mr, nr);
            }
          }
        }
      }
    }
  }
}

long packed_size(long K, long N) { return K * ((N + NR - 1) / NR * NR); }

void pack_bt(const float* B, long ldb, long K, long N, float* packed) { pack_b(true, B, ldb, 0, K, 0, N, packed); }

void gemm_tile(bool transA, long M, long N, long K, float alpha, const float* A, long lda, TileB B, float beta,
               float* C, long ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  thread_local std::vector<float> abuf, bbuf;
  for (long jr = 0; jr < N; jr += NR) {
    const int nr = static_cast<int>(std::min<long>(NR, N - jr));
    const float* b = B.packed ? B.data + jr * K : B.data + jr;
    long ldb = B.packed ? NR : B.ld;
    if (!B.packed && nr < NR) {  // a ragged right edge of a row-major B: pad it to a whole panel
      float* panel = scratch(bbuf, K * NR);
      pack_b(false, B.data, B.ld, 0, K, jr, nr, panel);
      b = panel;
      ldb = NR;
    }
    for (long ir = 0; ir < M; ir += MR) {
      const int mr = static_cast<int>(std::min<long>(MR, M - ir));
      float* c = C + ir * ldc + jr;
      if (mr == MR && nr == NR) {
        if (transA) {
          micro_kernel<true>(K, A + ir, lda, b, ldb, c, ldc, alpha, beta);
        } else {
          micro_kernel<false>(K, A + ir * lda, lda, b, ldb, c, ldc, alpha, beta);
        }
      } else {  // ragged bottom rows: pad them to a whole panel so no read runs past A
        float* panel = scratch(abuf, K * MR);
        pack_a(transA, A, lda, ir, mr, 0, K, panel);
        micro_kernel_edge<true>(K, panel, MR, b, ldb, c, ldc, alpha, beta, mr, nr);
      }
    }
  }
}

#ifdef RT_HAVE_OPENBLAS

void gemm(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda, const float* B,
          long ldb, float beta, float* C, long ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_c(M, N, beta, C, ldc);  // some OpenBLAS versions skip beta when K = 0
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(std::max(lda, 1L)), B, static_cast<blasint>(std::max(ldb, 1L)), beta, C,
              static_cast<blasint>(std::max(ldc, 1L)));
}
const char* gemm_backend() { return "openblas"; }
int blas_threads() { return openblas_get_num_threads(); }
void set_blas_threads(int n) { openblas_set_num_threads(n); }
const char* blas_core() { return openblas_get_corename(); }

#else

void gemm(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda, const float* B,
          long ldb, float beta, float* C, long ldc) {
  gemm_portable(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
const char* gemm_backend() { return "fallback"; }
int blas_threads() { return 0; }
void set_blas_threads(int) {}
const char* blas_core() { return ""; }

#endif

}  // namespace rt
