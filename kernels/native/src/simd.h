// Portable SIMD through GCC/Clang vector extensions: one source, and the compiler emits AVX-512,
// AVX2 or SSE/NEON code depending on the -march it was given (see scripts/build-native.mjs).
#pragma once

#include <cstdint>

namespace rt {

#if defined(__AVX512F__)
constexpr int VL = 16;  // floats per vector
#elif defined(__AVX__)
constexpr int VL = 8;
#else
constexpr int VL = 4;
#endif

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef std::int32_t vi __attribute__((vector_size(VL * sizeof(float))));
typedef float vfu __attribute__((vector_size(VL * sizeof(float)), aligned(alignof(float))));  // unaligned
typedef std::int32_t viu __attribute__((vector_size(VL * sizeof(float)), aligned(alignof(float))));

inline vf splat(float x) { return x - vf{}; }  // x - 0 folds to x (x + 0 would not, for -0)
inline vf load(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void store(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
inline vi load(const std::int32_t* p) { return *reinterpret_cast<const viu*>(p); }

// exp(x) for x <= ~88, to about 2 ulp: 2^n · e^r with n = round(x / ln 2) and |r| <= ln(2) / 2,
// e^r by its Taylor polynomial to r^7. Inputs below -87.3 (including -inf) give exactly 0, so a
// masked score contributes nothing, as with the reference's exact exp.
inline vf vexp(vf x) {
  const vi underflow = x < -87.3f;
  x = x < -87.3f ? splat(-87.3f) : x;
  x = x > 88.0f ? splat(88.0f) : x;
  const vf shifter = splat(12582912.0f);  // 1.5 · 2^23: adding it rounds to an integer
  const vf n = (x * 1.44269504088896341f + shifter) - shifter;
  vf r = x - n * 0.693359375f;  // ln 2 split in two (Cody-Waite) so n · ln2_hi is exact
  r = r - n * -2.12194440e-4f;
  vf p = splat(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const vi pow2n = (__builtin_convertvector(n, vi) + 127) << 23;
  const vf y = p * (vf)pow2n;  // a cast between vector types keeps the bits
  return (vf)((vi)y & ~underflow);
}

inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < VL; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

inline float hsum(vf v) {
  float s = 0.0f;
  for (int i = 0; i < VL; ++i) s += v[i];
  return s;
}

}  // namespace rt
