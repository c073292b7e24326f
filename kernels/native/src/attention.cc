// Blockwise attention over tiles of BQ queries × BK keys. Only one tile of scores exists per
// worker at a time; the matrix products run through gemm_tile (operands read in place; only
// Kᵀ and Vᵀ are rearranged into panels, once per key tile), the softmax through vexp. Every tile
// pair is first classified from the position extents and document-id extents of its two tiles,
// so a pair that no query can see (all keys later, or no shared document) costs a few
// comparisons, and a pair that every query sees (keys earlier, one and the same document) skips
// the per-element mask: with arbitrary positions (striped, zigzag, shuffled) and arbitrary
// document ids this stays exact, since a partial pair applies the rules element by element.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gemm.h"
#include "parallel.h"
#include "simd.h"

namespace rt {
namespace {

constexpr long BQ = 16 * kMicroRows;  // query rows per tile (128 with AVX-512, 96 otherwise)
constexpr long BK = 128;  // keys per tile (row stride of the score scratch; a multiple of VL)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Tile {
  long start, len;
  std::int32_t lo, hi;        // extent of the positions in the tile
  std::int32_t docLo, docHi;  // extent of the document ids (0, 0 without documents)
};

std::vector<Tile> make_tiles(const std::int32_t* pos, const std::int32_t* doc, long n, long size) {
  std::vector<Tile> tiles;
  for (long s = 0; s < n; s += size) {
    const long len = std::min(size, n - s);
    const auto [lo, hi] = std::minmax_element(pos + s, pos + s + len);
    Tile t{s, len, *lo, *hi, 0, 0};
    if (doc != nullptr) {
      const auto [dlo, dhi] = std::minmax_element(doc + s, doc + s + len);
      t.docLo = *dlo;
      t.docHi = *dhi;
    }
    tiles.push_back(t);
  }
  return tiles;
}

enum class Visibility { None, All, Partial };

// A tile pair's visibility, and for a Partial pair which per-element tests can hide something.
struct TileMask {
  Visibility vis;
  bool causal;  // some key lies after some query
  bool docs;    // the two tiles hold more than one document between them
};

TileMask classify(const Tile& qt, const Tile& kt, bool causal, bool docs) {
  constexpr TileMask none{Visibility::None, false, false};
  bool causalMask = false;
  if (causal) {
    if (kt.lo > qt.hi) return none;  // every key after every query
    causalMask = kt.hi > qt.lo;
  }
  bool docMask = false;
  if (docs) {
    if (kt.docLo > qt.docHi || kt.docHi < qt.docLo) return none;  // id ranges apart: no shared document
    docMask = !(qt.docLo == qt.docHi && kt.docLo == kt.docHi);  // else one and the same document
  }
  if (!causalMask && !docMask) return {Visibility::All, false, false};
  return {Visibility::Partial, causalMask, docMask};
}

long round_up(long n) { return (n + VL - 1) / VL * VL; }

// Score rows [qt] × [kt] at stride BK: masked entries and the padding up to a whole vector
// become -inf, so the vector loops below can run over whole vectors and exp them to 0. Only the
// tests the tile pair needs run (none for an All pair).
void mask_scores(float* s, const Tile& qt, const Tile& kt, const TileMask& m, const AttentionProblem& p) {
  const long width = round_up(kt.len);
  const std::int32_t* pk = p.posK + kt.start;
  const std::int32_t* dk = m.docs ? p.docK + kt.start : nullptr;
  for (long r = 0; r < qt.len; ++r) {
    float* row = s + r * BK;
    if (m.causal && m.docs) {
      const std::int32_t pq = p.posQ[qt.start + r];
      const std::int32_t dq = p.docQ[qt.start + r];
      for (long c = 0; c < kt.len; ++c) row[c] = (pk[c] > pq) | (dk[c] != dq) ? kNegInf : row[c];
    } else if (m.causal) {
      const std::int32_t pq = p.posQ[qt.start + r];
      for (long c = 0; c < kt.len; ++c) row[c] = pk[c] > pq ? kNegInf : row[c];
    } else if (m.docs) {
      const std::int32_t dq = p.docQ[qt.start + r];
      for (long c = 0; c < kt.len; ++c) row[c] = dk[c] != dq ? kNegInf : row[c];
    }
    for (long c = kt.len; c < width; ++c) row[c] = kNegInf;
  }
}

float row_max(const float* row, long width) {
  vf m = splat(kNegInf);
  for (long c = 0; c < width; c += VL) {
    const vf x = load(row + c);
    m = x > m ? x : m;
  }
  return hmax(m);
}

// row = exp(row - shift) in place; returns the row sum.
float exp_shifted(float* row, long width, float shift) {
  vf sum = vf{};
  for (long c = 0; c < width; c += VL) {
    const vf e = vexp(load(row + c) - shift);
    store(row + c, e);
    sum += e;
  }
  return hsum(sum);
}

void scale_row(float* row, long n, float a) {
  for (long c = 0; c < n; ++c) row[c] *= a;
}

// Thread-private scratch tiles, zeroed once so padding columns hold finite values.
struct Scratch {
  std::vector<float> s, dp, kt, vt;  // scores/P, dP/dS, packed Kᵀ and Vᵀ of the current key tile
  explicit Scratch(long headDim, bool backward)
      : s(BQ * BK, 0.0f),
        dp(backward ? BQ * BK : 0, 0.0f),
        kt(backward ? packed_size(headDim, BK) : 0),
        vt(backward ? packed_size(headDim, BK) : 0) {}
};

TileB packed(const std::vector<float>& v) { return {v.data(), 0, true}; }
TileB packed(const float* p) { return {p, 0, true}; }
TileB rows(const float* p, long ld) { return {p, ld, false}; }

// One (query head, query tile) of the forward: online softmax over the key tiles.
// kPacked: Kᵀ of every (K/V head, key tile), packed once per call (the size of k).
void forward_tile(const AttentionProblem& p, const float* kPacked, const float* v, float* out, float* lse,
                  const float* q, long h, const Tile& qt, const std::vector<Tile>& ktiles, Scratch& scratch) {
  const long D = p.headDim;
  const long kvh = h / (p.heads / p.kvHeads);
  const float* Q = q + (h * p.seqQ + qt.start) * D;
  float* O = out + (h * p.seqQ + qt.start) * D;
  float m[BQ], l[BQ];
  std::fill(m, m + qt.len, kNegInf);
  std::fill(l, l + qt.len, 0.0f);
  std::fill(O, O + qt.len * D, 0.0f);
  float* S = scratch.s.data();
  const long nk = static_cast<long>(ktiles.size());
  for (long t = 0; t < nk; ++t) {
    const Tile& kt = ktiles[t];
    const TileMask mask = classify(qt, kt, p.causal, p.docQ != nullptr);
    if (mask.vis == Visibility::None) continue;
    const float* Kt = kPacked + (kvh * nk + t) * packed_size(D, BK);
    const float* V = v + (kvh * p.seqK + kt.start) * D;
    gemm_tile(false, qt.len, kt.len, D, p.scale, Q, D, packed(Kt), 0.0f, S, BK);  // S = Q·Kᵀ·scale
    mask_scores(S, qt, kt, mask, p);
    const long width = round_up(kt.len);
    for (long r = 0; r < qt.len; ++r) {
      float* row = S + r * BK;
      const float mNew = std::max(m[r], row_max(row, width));
      if (mNew == kNegInf) {  // nothing visible to this row yet: contribute nothing
        std::fill(row, row + width, 0.0f);
        continue;
      }
      const float alpha = std::exp(m[r] - mNew);  // rescales what earlier tiles accumulated
      l[r] = l[r] * alpha + exp_shifted(row, width, mNew);
      m[r] = mNew;
      if (alpha != 1.0f) scale_row(O + r * D, D, alpha);
    }
    gemm_tile(false, qt.len, D, kt.len, 1.0f, S, BK, rows(V, D), 1.0f, O, D);  // O += P·V
  }
  for (long r = 0; r < qt.len; ++r) {
    float& rowLse = lse[h * p.seqQ + qt.start + r];
    if (l[r] == 0.0f) {  // saw no key: O row is still 0
      rowLse = kNegInf;
      continue;
    }
    scale_row(O + r * D, D, 1.0f / l[r]);
    rowLse = m[r] + std::log(l[r]);
  }
}

// One (K/V head, key tile) of the backward, over every query of the heads that share it.
// dK and dV rows of the tile belong to this item alone; dQ goes to the worker's accumulator.
void backward_tile(const AttentionProblem& p, const float* q, const float* k, const float* v, const float* dout,
                   const float* lse, const float* rowDot, float* dq, float* dk, float* dv, long kvh, const Tile& kt,
                   const std::vector<Tile>& qtiles, Scratch& scratch) {
  const long D = p.headDim;
  const long group = p.heads / p.kvHeads;
  const long kvOff = (kvh * p.seqK + kt.start) * D;
  const float* K = k + kvOff;
  const float* V = v + kvOff;
  float* dK = dk + kvOff;
  float* dV = dv + kvOff;
  std::fill(dK, dK + kt.len * D, 0.0f);
  std::fill(dV, dV + kt.len * D, 0.0f);
  pack_bt(K, D, D, kt.len, scratch.kt.data());
  pack_bt(V, D, D, kt.len, scratch.vt.data());
  float* P = scratch.s.data();
  float* dS = scratch.dp.data();
  const long width = round_up(kt.len);
  for (long h = kvh * group; h < (kvh + 1) * group; ++h) {
    for (const Tile& qt : qtiles) {
      const TileMask mask = classify(qt, kt, p.causal, p.docQ != nullptr);
      if (mask.vis == Visibility::None) continue;
      const long qOff = (h * p.seqQ + qt.start) * D;
      const float* Q = q + qOff;
      const float* dO = dout + qOff;
      const float* rowLse = lse + h * p.seqQ + qt.start;
      const float* rowD = rowDot + h * p.seqQ + qt.start;
      gemm_tile(false, qt.len, kt.len, D, p.scale, Q, D, packed(scratch.kt), 0.0f, P, BK);  // S = Q·Kᵀ·scale
      mask_scores(P, qt, kt, mask, p);
      for (long r = 0; r < qt.len; ++r) {
        float* row = P + r * BK;
        // A global lse of -inf means the row saw no key anywhere: p = 0, not exp(-inf + inf).
        if (rowLse[r] == kNegInf) {
          std::fill(row, row + width, 0.0f);
        } else {
          exp_shifted(row, width, rowLse[r]);  // P = exp(S - lse)
        }
      }
      gemm_tile(true, kt.len, D, qt.len, 1.0f, P, BK, rows(dO, D), 1.0f, dV, D);              // dV += Pᵀ·dO
      gemm_tile(false, qt.len, kt.len, D, 1.0f, dO, D, packed(scratch.vt), 0.0f, dS, BK);  // dP = dO·Vᵀ
      for (long r = 0; r < qt.len; ++r) {  // dS = P ∘ (dP - rowsum(dO ∘ O))
        const float* pr = P + r * BK;
        float* dsr = dS + r * BK;
        const float d = rowD[r];
        for (long c = 0; c < width; c += VL) store(dsr + c, load(pr + c) * (load(dsr + c) - d));
      }
      gemm_tile(false, qt.len, D, kt.len, p.scale, dS, BK, rows(K, D), 1.0f, dq + qOff, D);  // dQ += dS·K·scale
      gemm_tile(true, kt.len, D, qt.len, p.scale, dS, BK, rows(Q, D), 1.0f, dK, D);          // dK += dSᵀ·Q·scale
    }
  }
}

}  // namespace

void attention_forward(const AttentionProblem& p, const float* q, const float* k, const float* v, float* out,
                       float* lse) {
  const std::vector<Tile> qtiles = make_tiles(p.posQ, p.docQ, p.seqQ, BQ);
  const std::vector<Tile> ktiles = make_tiles(p.posK, p.docK, p.seqK, BK);
  const long nq = static_cast<long>(qtiles.size());
  const long nk = static_cast<long>(ktiles.size());
  const long tileSize = packed_size(p.headDim, BK);
  std::vector<float> kPacked(p.kvHeads * nk * tileSize);
  for (long kvh = 0; kvh < p.kvHeads; ++kvh) {
    for (long t = 0; t < nk; ++t) {
      const float* K = k + (kvh * p.seqK + ktiles[t].start) * p.headDim;
      pack_bt(K, p.headDim, p.headDim, ktiles[t].len, kPacked.data() + (kvh * nk + t) * tileSize);
    }
  }
  const long items = p.heads * nq;
  std::vector<Scratch> scratch;
  for (int w = 0; w < worker_count(items, p.threads); ++w) scratch.emplace_back(p.headDim, false);
  parallel_for(items, p.threads, [&](long item, int worker) {
    forward_tile(p, kPacked.data(), v, out, lse, q, item / nq, qtiles[item % nq], ktiles, scratch[worker]);
  });
}

void attention_backward(const AttentionProblem& p, const float* q, const float* k, const float* v, const float* dout,
                        const float* out, const float* lse, float* dq, float* dk, float* dv) {
  const long D = p.headDim;
  const long rows = p.heads * p.seqQ;
  std::vector<float> rowDot(rows);  // D = rowsum(dO ∘ O) in DESIGN.md
  for (long i = 0; i < rows; ++i) {
    float s = 0.0f;
    for (long c = 0; c < D; ++c) s += dout[i * D + c] * out[i * D + c];
    rowDot[i] = s;
  }
  const std::vector<Tile> qtiles = make_tiles(p.posQ, p.docQ, p.seqQ, BQ);
  const std::vector<Tile> ktiles = make_tiles(p.posK, p.docK, p.seqK, BK);
  const long nk = static_cast<long>(ktiles.size());
  const long items = p.kvHeads * nk;
  const int workers = worker_count(items, p.threads);
  // Worker 0 accumulates dQ in place; the others into private copies summed at the end.
  std::fill(dq, dq + rows * D, 0.0f);
  std::vector<std::vector<float>> dqPrivate(workers - 1, std::vector<float>(rows * D, 0.0f));
  std::vector<Scratch> scratch;
  for (int w = 0; w < workers; ++w) scratch.emplace_back(D, true);
  parallel_for(items, p.threads, [&](long item, int worker) {
    float* dqAcc = worker == 0 ? dq : dqPrivate[worker - 1].data();
    backward_tile(p, q, k, v, dout, lse, rowDot.data(), dqAcc, dk, dv, item / nk, ktiles[item % nk], qtiles,
                  scratch[worker]);
  });
  for (const auto& part : dqPrivate)
    for (long i = 0; i < rows * D; ++i) dq[i] += part[i];
}

}  // namespace rt
