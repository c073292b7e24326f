/**
 * Shared by the kernels' tests only (not exported from index): seeded data, the position
 * layouts the strategies produce, and an assertion that names the tensor and its error.
 */
import * as tf from '@tensorflow/tfjs';
import { errorStats } from '../src/error-stats';
import { toHeadMajor } from '../src/layout-convert';
import type { ReferenceInputs } from '../src/reference';
import type { BlockInputs } from '../src/types';

/** fp32 kernels vs the float64 oracle: max |err| / max |ref|. */
export const FP32_REL_TOL = 1e-5;

/** mulberry32: tiny deterministic PRNG so every failure reproduces. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-amp, amp); `integers` rounds, so products and sums stay exact in fp32. */
export function randomArray(n: number, rand: () => number, amp = 1, integers = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (2 * rand() - 1) * amp;
    a[i] = integers ? Math.round(x) : x;
  }
  return a;
}

export function contiguous(start: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => start + i);
}

/** Striped: rank r of P owns r, r+P, r+2P, … below seqLen. */
export function striped(rank: number, world: number, seqLen: number): Int32Array {
  const out: number[] = [];
  for (let p = rank; p < seqLen; p += world) out.push(p);
  return Int32Array.from(out);
}

/** Zigzag: seqLen cut into 2P chunks (uneven when it does not divide); rank r owns r and 2P-1-r. */
export function zigzag(rank: number, world: number, seqLen: number): Int32Array {
  const bound = (c: number) => Math.floor((c * seqLen) / (2 * world));
  const out: number[] = [];
  for (const c of [rank, 2 * world - 1 - rank]) for (let p = bound(c); p < bound(c + 1); p++) out.push(p);
  return Int32Array.from(out);
}

/**
 * Document ids of packed sequences at the given positions: documents start at the positions
 * `starts` (ascending; the first covers everything before starts[1]), document n gets id
 * `ids[n]` (default n). E.g. documentsAt(pos, [0, 40, 41]) puts position 40 alone in document 1.
 */
export function documentsAt(pos: Int32Array, starts: number[], ids?: number[]): Int32Array {
  return Int32Array.from(pos, (p) => {
    let n = 0;
    while (n + 1 < starts.length && starts[n + 1] <= p) n++;
    return ids ? ids[n] : n;
  });
}

/** One attention problem in the reference's sequence-major layout, plus an upstream gradient. */
export interface Problem extends ReferenceInputs {
  q: Float32Array; // [Sq, H, D]
  k: Float32Array; // [Sk, Hkv, D]
  v: Float32Array; // [Sk, Hkv, D]
  dout: Float32Array; // [Sq, H, D]
}

export interface ProblemSpec {
  heads: number;
  kvHeads: number;
  headDim: number;
  posQ: Int32Array;
  posK: Int32Array;
  /** Document ids (both or neither): a query sees only keys of its own document. */
  docQ?: Int32Array;
  docK?: Int32Array;
  causal: boolean;
  seed?: number;
  /** Integer-valued q and k with scale 1: large logits that are exact in fp32. */
  integerLogits?: number;
}

export function makeProblem(spec: ProblemSpec): Problem {
  const rand = seededRandom(spec.seed ?? 1);
  const { heads, kvHeads, headDim, posQ, posK, causal } = spec;
  const seqQ = posQ.length;
  const seqK = posK.length;
  const amp = spec.integerLogits ?? 1;
  const integers = spec.integerLogits !== undefined;
  return {
    q: randomArray(seqQ * heads * headDim, rand, amp, integers),
    k: randomArray(seqK * kvHeads * headDim, rand, amp, integers),
    v: randomArray(seqK * kvHeads * headDim, rand),
    dout: randomArray(seqQ * heads * headDim, rand),
    seqQ,
    seqK,
    heads,
    kvHeads,
    headDim,
    posQ,
    posK,
    ...(spec.docQ !== undefined || spec.docK !== undefined ? { docQ: spec.docQ, docK: spec.docK } : {}),
    causal,
    scale: integers ? 1 : 1 / Math.sqrt(headDim),
  };
}

/** The problem's keys (and their K/V rows) at the given key indices, as a new problem. */
export function selectKeys(p: Problem, indices: ArrayLike<number>): Problem {
  const row = p.kvHeads * p.headDim;
  const k = new Float32Array(indices.length * row);
  const v = new Float32Array(indices.length * row);
  const posK = new Int32Array(indices.length);
  const allDocK = p.docK;
  const docK = allDocK === undefined ? undefined : new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    k.set(p.k.subarray(j * row, (j + 1) * row), i * row);
    v.set(p.v.subarray(j * row, (j + 1) * row), i * row);
    posK[i] = p.posK[j];
    if (docK !== undefined && allDocK !== undefined) docK[i] = allDocK[j];
  }
  return { ...p, k, v, posK, ...(docK !== undefined ? { docK } : {}), seqK: indices.length };
}

/** Head-major block tensors for the kernel; the caller disposes q, k, v. */
export function toBlockInputs(p: Problem): BlockInputs {
  return {
    q: toHeadMajor(p.q, p.seqQ, p.heads, p.headDim),
    k: toHeadMajor(p.k, p.seqK, p.kvHeads, p.headDim),
    v: toHeadMajor(p.v, p.seqK, p.kvHeads, p.headDim),
    posQ: p.posQ,
    posK: p.posK,
    ...(p.docQ !== undefined || p.docK !== undefined ? { docQ: p.docQ, docK: p.docK } : {}),
    causal: p.causal,
    scale: p.scale,
  };
}

export function disposeBlockInputs(b: BlockInputs): void {
  tf.dispose([b.q, b.k, b.v]);
}

/** Throws with the tensor's name and error stats, so a failure says what and by how much. */
export function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, relTol = FP32_REL_TOL): void {
  const s = errorStats(actual, expected);
  if (s.nan > 0 || !(s.rel <= relTol)) {
    throw new Error(`${what}: rel ${s.rel.toExponential(2)} > ${relTol} (maxAbs ${s.maxAbs}, maxRef ${s.maxRef}, NaN ${s.nan})`);
  }
}

export function expectAllEqual(what: string, actual: ArrayLike<number>, value: number): void {
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== value) {
      throw new Error(`${what}[${i}] = ${actual[i]}, expected ${value}`);
    }
  }
}
