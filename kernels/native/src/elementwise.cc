#include "elementwise.h"

#include <cmath>
#include <vector>

#include "simd.h"

namespace rt {
namespace {

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

// σ(2u) and exp(−2u) for u = c(x + a·x³). vexp saturates at exp(88) (σ ~ 6e-39, y ~ 0) and is
// exactly 0 below −87.3 (σ = 1, y = x), so neither tail gives inf/inf.
inline vf gelu_sigma(vf x, vf* e) {
  const vf u = kGeluC * (x + kGeluA * x * x * x);
  *e = vexp(-2.0f * u);
  return 1.0f / (1.0f + *e);
}

inline float gelu_sigma1(float x, float* e) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  *e = std::exp(std::fmin(-2.0f * u, 88.0f));
  return 1.0f / (1.0f + *e);
}

inline float gelu_grad1(float x, float s, float e) {
  return s + 2.0f * x * s * (e * s) * kGeluC * (1.0f + 3.0f * kGeluA * x * x);
}

}  // namespace

void gelu_forward(const float* x, float* y, long n) {
  long i = 0;
  for (; i + VL <= n; i += VL) {
    vf e;
    const vf v = load(x + i);
    store(y + i, v * gelu_sigma(v, &e));
  }
  for (; i < n; ++i) {
    float e;
    y[i] = x[i] * gelu_sigma1(x[i], &e);
  }
}

void gelu_backward(const float* x, const float* dy, float* dx, long n) {
  long i = 0;
  for (; i + VL <= n; i += VL) {
    vf e;
    const vf v = load(x + i);
    const vf s = gelu_sigma(v, &e);
    const vf grad = s + 2.0f * v * s * (e * s) * kGeluC * (1.0f + 3.0f * kGeluA * v * v);
    store(dx + i, load(dy + i) * grad);
  }
  for (; i < n; ++i) {
    float e;
    const float s = gelu_sigma1(x[i], &e);
    dx[i] = dy[i] * gelu_grad1(x[i], s, e);
  }
}

namespace {

// Σ a[j]·b[j]·c[j] over j < d (b, c may be the same array as a).
inline float dot3(const float* a, const float* b, const float* c, long d) {
  vf acc = splat(0.0f);
  long j = 0;
  for (; j + VL <= d; j += VL) acc += load(a + j) * load(b + j) * load(c + j);
  float s = hsum(acc);
  for (; j < d; ++j) s += a[j] * b[j] * c[j];
  return s;
}

}  // namespace

void rms_norm_forward(const float* x, const float* g, float eps, float* y, float* inv, long rows, long d) {
  std::vector<float> ones(static_cast<size_t>(d), 1.0f);
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    const float s = dot3(xr, xr, ones.data(), d);
    const float ir = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s) / d + eps));
    inv[r] = ir;
    long j = 0;
    for (; j + VL <= d; j += VL) store(yr + j, load(xr + j) * ir * load(g + j));
    for (; j < d; ++j) yr[j] = xr[j] * ir * g[j];
  }
}

void rms_norm_backward(const float* x, const float* g, const float* inv, const float* dy, float* dx, float* dg, long rows,
                       long d) {
  // dg sums over every row: fp32 partial sums over blocks of rows, added up in double.
  constexpr long kBlock = 64;
  std::vector<double> dg64(static_cast<size_t>(d), 0.0);
  std::vector<float> part(static_cast<size_t>(d), 0.0f);
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    const float* dyr = dy + r * d;
    float* dxr = dx + r * d;
    const float ir = inv[r];
    const float c = ir * ir * dot3(xr, g, dyr, d) / static_cast<float>(d);
    long j = 0;
    for (; j + VL <= d; j += VL) {
      const vf xv = load(xr + j), dyv = load(dyr + j);
      store(dxr + j, ir * (load(g + j) * dyv - xv * c));
      store(part.data() + j, load(part.data() + j) + dyv * xv * ir);
    }
    for (; j < d; ++j) {
      dxr[j] = ir * (g[j] * dyr[j] - xr[j] * c);
      part[static_cast<size_t>(j)] += dyr[j] * xr[j] * ir;
    }
    if ((r + 1) % kBlock == 0 || r + 1 == rows) {
      for (long k = 0; k < d; ++k) {
        dg64[static_cast<size_t>(k)] += part[static_cast<size_t>(k)];
        part[static_cast<size_t>(k)] = 0.0f;
      }
    }
  }
  for (long k = 0; k < d; ++k) dg[k] = static_cast<float>(dg64[static_cast<size_t>(k)]);
}

}  // namespace rt
