// Fused blockwise attention (FlashAttention-2 style) on head-major fp32 arrays: the native
// twin of kernels/src/block-attention.ts, with the same contract (kernels/src/types.ts):
//   q, out, dout, dq: [H, Sq, D]    k, v, dk, dv: [Hkv, Sk, D]    lse: [H, Sq]
// Query head h uses K/V head h / (H / Hkv). With causal, query i sees key j only if
// posK[j] <= posQ[i]; with documents (docQ and docK non-null), only if docQ[i] == docK[j].
// A row that sees no key: out 0, lse -inf, zero gradients.
#pragma once

#include <cstdint>

namespace rt {

struct AttentionProblem {
  long heads, kvHeads, seqQ, seqK, headDim;
  const std::int32_t* posQ;  // [Sq] global positions
  const std::int32_t* posK;  // [Sk]
  const std::int32_t* docQ;  // [Sq] document ids of packed sequences, or null (no document mask)
  const std::int32_t* docK;  // [Sk]; null exactly when docQ is
  bool causal;
  float scale;
  int threads;  // workers to use (>= 1)
};

// Writes every element of out and lse. Scores live one tile at a time (never Sq × Sk).
void attention_forward(const AttentionProblem& p, const float* q, const float* k, const float* v, float* out,
                       float* lse);

// Given the final out and the final (global) lse; writes every element of dq, dk and dv.
void attention_backward(const AttentionProblem& p, const float* q, const float* k, const float* v, const float* dout,
                        const float* out, const float* lse, float* dq, float* dk, float* dv);

}  // namespace rt
