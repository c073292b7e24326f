// Blockwise attention over tiles of BQ queries × BK keys. Only one tile of scores exists per
// worker at a time; the matrix products run through gemm_tile (operands read in place; only
// Kᵀ and Vᵀ are rearranged into panels, once per key tile), the softmax through vexp. Every tile
// pair is first classified from the position extents and document-id extents of its two tiles,
// so a pair that no query can see (all keys later, or no shared document) costs a few
// comparisons, and a pair that every query sees (keys earlier, one and the same document) skips
// the per-element mask: with arbitrary positions (striped, zigzag, shuffled) and arbitrary
// document ids this stays exact, since a partial pair applies the rules element by element.
// A partial pair's products run per quarter of its rows, over the key columns that quarter may
// see (tile_windows), so a tile on the diagonal costs about what its visible part does.
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

// Rows of a Partial pair are handled in groups of kGroupRows (a quarter of a query tile). Each
// group computes only the key columns some row of it may see: [c0, c1), cut to whole gemm panels
// (kPanel columns, so a packed Kᵀ/Vᵀ panel starts at c0). With sorted positions the visible keys
// of a row are a prefix, so a diagonal tile pair computes about 5/8 of a whole one; a group
// that sees nothing is skipped.
constexpr long kGroupRows = BQ / 4;
constexpr long kPanel = kPackedPanel;

struct Window {
  long r0, r1;  // rows of the query tile
  long c0, c1;  // key columns of the key tile (c1 <= kt.len)
};

// A superset of the columns visible to rows [r0, r1): keys not after the group's latest query,
// and (with documents) ids within the group's id range. Exact visibility is applied later,
// element by element, by mask_scores.
bool group_window(const AttentionProblem& p, const Tile& qt, const Tile& kt, const TileMask& m, long r0, long r1,
                  Window& w) {
  const std::int32_t* pq = p.posQ + qt.start;
  const std::int32_t* pk = p.posK + kt.start;
  std::int32_t qHi = pq[r0];
  for (long r = r0 + 1; r < r1; ++r) qHi = std::max(qHi, pq[r]);
  std::int32_t dLo = 0, dHi = 0;
  if (m.docs) {
    const std::int32_t* dq = p.docQ + qt.start;
    dLo = dHi = dq[r0];
    for (long r = r0 + 1; r < r1; ++r) {
      dLo = std::min(dLo, dq[r]);
      dHi = std::max(dHi, dq[r]);
    }
  }
  const std::int32_t* dk = m.docs ? p.docK + kt.start : nullptr;
  long first = -1, last = -1;
  for (long c = 0; c < kt.len; ++c) {
    const bool maybe = (!m.causal || pk[c] <= qHi) && (!m.docs || (dk[c] >= dLo && dk[c] <= dHi));
    if (maybe) {
      if (first < 0) first = c;
      last = c;
    }
  }
  if (first < 0) return false;
  w = {r0, r1, first / kPanel * kPanel, std::min(kt.len, (last / kPanel + 1) * kPanel)};
  return true;
}

// The (rows, columns) windows of a tile pair: the whole pair for an All pair, else one per group
// of rows that may see something.
int tile_windows(const AttentionProblem& p, const Tile& qt, const Tile& kt, const TileMask& m,
                 Window (&out)[BQ / kGroupRows + 1]) {
  if (m.vis == Visibility::All) {
    out[0] = {0, qt.len, 0, kt.len};
    return 1;
  }
  int n = 0;
  for (long r0 = 0; r0 < qt.len; r0 += kGroupRows) {
    if (group_window(p, qt, kt, m, r0, std::min(qt.len, r0 + kGroupRows), out[n])) ++n;
  }
  return n;
}

// Score rows [w.r0, w.r1) × columns [w.c0, kt.len) of the pair at stride BK (row 0 of s is
// tile row 0): masked entries and the padding up to a whole vector become -inf, so the vector
// loops below can run over whole vectors and exp them to 0. Only the tests the tile pair needs
// run (none for an All pair).
void mask_scores(float* s, const Tile& qt, const Tile& kt, const TileMask& m, const Window& w,
                 const AttentionProblem& p) {
  const long width = round_up(w.c1);
  const std::int32_t* pk = p.posK + kt.start;
  const std::int32_t* dk = m.docs ? p.docK + kt.start : nullptr;
  for (long r = w.r0; r < w.r1; ++r) {
    float* row = s + r * BK;
    if (m.causal && m.docs) {
      const std::int32_t pq = p.posQ[qt.start + r];
      const std::int32_t dq = p.docQ[qt.start + r];
      for (long c = w.c0; c < w.c1; ++c) row[c] = (pk[c] > pq) | (dk[c] != dq) ? kNegInf : row[c];
    } else if (m.causal) {
      const std::int32_t pq = p.posQ[qt.start + r];
      for (long c = w.c0; c < w.c1; ++c) row[c] = pk[c] > pq ? kNegInf : row[c];
    } else if (m.docs) {
      const std::int32_t dq = p.docQ[qt.start + r];
      for (long c = w.c0; c < w.c1; ++c) row[c] = dk[c] != dq ? kNegInf : row[c];
    }
    for (long c = w.c1; c < width; ++c) row[c] = kNegInf;
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
TileB rows_of(const float* p, long ld) { return {p, ld, false}; }

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
    Window win[BQ / kGroupRows + 1];
    const int nw = tile_windows(p, qt, kt, mask, win);
    for (int i = 0; i < nw; ++i) {
      const Window& w = win[i];
      const long rows = w.r1 - w.r0, cols = w.c1 - w.c0;
      float* Sw = S + w.r0 * BK + w.c0;
      gemm_tile(false, rows, cols, D, p.scale, Q + w.r0 * D, D, packed(Kt + w.c0 * D), 0.0f, Sw, BK);  // S = Q·Kᵀ·scale
      mask_scores(S, qt, kt, mask, w, p);
      const long width = round_up(w.c1) - w.c0;
      for (long r = w.r0; r < w.r1; ++r) {
        float* row = S + r * BK + w.c0;
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
      gemm_tile(false, rows, D, cols, 1.0f, Sw, BK, rows_of(V + w.c0 * D, D), 1.0f, O + w.r0 * D, D);  // O += P·V
    }
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
  for (long h = kvh * group; h < (kvh + 1) * group; ++h) {
    for (const Tile& qt : qtiles) {
      const TileMask mask = classify(qt, kt, p.causal, p.docQ != nullptr);
      if (mask.vis == Visibility::None) continue;
      const long qOff = (h * p.seqQ + qt.start) * D;
      const float* rowLse = lse + h * p.seqQ + qt.start;
      const float* rowD = rowDot + h * p.seqQ + qt.start;
      Window win[BQ / kGroupRows + 1];
      const int nw = tile_windows(p, qt, kt, mask, win);
      for (int i = 0; i < nw; ++i) {
        const Window& w = win[i];
        const long rows = w.r1 - w.r0, cols = w.c1 - w.c0, width = round_up(w.c1) - w.c0;
        const long off = qOff + w.r0 * D;
        const float* Q = q + off;
        const float* dO = dout + off;
        float* Pw = P + w.r0 * BK + w.c0;
        float* dSw = dS + w.r0 * BK + w.c0;
        gemm_tile(false, rows, cols, D, p.scale, Q, D, packed(scratch.kt.data() + w.c0 * D), 0.0f, Pw, BK);  // S = Q·Kᵀ·scale
        mask_scores(P, qt, kt, mask, w, p);
        for (long r = w.r0; r < w.r1; ++r) {
          float* row = P + r * BK + w.c0;
          // A global lse of -inf means the row saw no key anywhere: p = 0, not exp(-inf + inf).
          if (rowLse[r] == kNegInf) {
            std::fill(row, row + width, 0.0f);
          } else {
            exp_shifted(row, width, rowLse[r]);  // P = exp(S - lse)
          }
        }
        gemm_tile(true, cols, D, rows, 1.0f, Pw, BK, rows_of(dO, D), 1.0f, dV + w.c0 * D, D);  // dV += Pᵀ·dO
        gemm_tile(false, rows, cols, D, 1.0f, dO, D, packed(scratch.vt.data() + w.c0 * D), 0.0f, dSw, BK);  // dP = dO·Vᵀ
        for (long r = w.r0; r < w.r1; ++r) {  // dS = P ∘ (dP - rowsum(dO ∘ O))
          const float* pr = P + r * BK + w.c0;
          float* dsr = dS + r * BK + w.c0;
          const float d = rowD[r];
          for (long c = 0; c < width; c += VL) store(dsr + c, load(pr + c) * (load(dsr + c) - d));
        }
        gemm_tile(false, rows, D, cols, p.scale, dSw, BK, rows_of(K + w.c0 * D, D), 1.0f, dq + off, D);  // dQ += dS·K·scale
        gemm_tile(true, cols, D, rows, p.scale, dSw, BK, rows_of(Q, D), 1.0f, dK + w.c0 * D, D);  // dK += dSᵀ·Q·scale
      }
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
