// Token-local ops of the transformer block, forward and backward, on row-major fp32 arrays: the
// native twins of the fused JS ops in worker/src/model/fused.ts (one pass each way, vectorised).
#pragma once

namespace rt {

// GELU, tanh approximation, written as y = x·σ(2u), u = c(x + a·x³) (σ(2u) = (1 + tanh u)/2):
// precise in both tails, where 1 ± tanh u is tiny. Backward recomputes σ from x:
// y' = σ + 2x·σ(1 − σ)·c(1 + 3a·x²).
void gelu_forward(const float* x, float* y, long n);
void gelu_backward(const float* x, const float* dy, float* dx, long n);

// RMSNorm of rows x [rows, d] with gain g [d]: y = x·r·g, r = 1/sqrt(mean(x²) + eps), r kept in
// inv [rows]. Backward: dx = r·(g·dy − x·r²·mean(x·g·dy)); dg = Σ_rows dy·x·r (written, not added).
void rms_norm_forward(const float* x, const float* g, float eps, float* y, float* inv, long rows, long d);
void rms_norm_backward(const float* x, const float* g, const float* inv, const float* dy, float* dx, float* dg, long rows,
                       long d);

}  // namespace rt
