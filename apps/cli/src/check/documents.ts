import { RingtrainError, SeededRandom, optionError } from '@ringtrain/core';
import type { Layout } from '@ringtrain/layout';

/**
 * Documents for `check`: `--docs N` (N random lengths summing to the sequence, seeded) or
 * `--doc-lens a,b,…` (given lengths); each position's document id, RoPE positions restarting at
 * each document, and the attention work each rank's queries do under the document mask.
 */
export interface DocumentSpec {
  /** `--docs N`: so many random documents per sequence. */
  count: number | null;
  /** `--doc-lens`: these lengths, for every sequence. */
  lens: readonly number[] | null;
}

/** Parses --docs / --doc-lens (at most one) against the sequence length; null when neither is given. */
export function parseDocuments(docs: string | undefined, docLens: string | undefined, seqLen: number): DocumentSpec | null {
  if (docs !== undefined && docLens !== undefined) {
    throw new RingtrainError('BAD_OPTION', '--docs and --doc-lens both given', { hint: 'pass --docs N for random lengths or --doc-lens a,b,… for given ones, not both' });
  }
  if (docs !== undefined) {
    const n = Number(docs);
    if (!/^\d+$/.test(docs.trim()) || !Number.isSafeInteger(n) || n < 1 || n > seqLen) {
      throw optionError('--docs', docs, `a number of documents from 1 to --seq-len ${seqLen} (each document holds at least one token)`);
    }
    return { count: n, lens: null };
  }
  if (docLens !== undefined) {
    const parts = docLens.split(',').map((s) => s.trim());
    const lens = parts.map(Number);
    const bad = parts.findIndex((p, i) => !/^\d+$/.test(p) || lens[i] < 1);
    if (bad >= 0) throw optionError('--doc-lens', docLens, `a comma list of document lengths of at least 1 token each ("${parts[bad]}" is not)`);
    const sum = lens.reduce((a, b) => a + b, 0);
    if (sum !== seqLen) throw optionError('--doc-lens', docLens, `lengths that sum to --seq-len ${seqLen} (these sum to ${sum})`);
    return { count: null, lens };
  }
  return null;
}

/** The lengths of one sequence's documents: the given ones, or N random ones (N−1 distinct cuts). */
export function documentLengths(spec: DocumentSpec, seqLen: number, seed: number): number[] {
  if (spec.lens) return [...spec.lens];
  const n = spec.count!;
  const rng = new SeededRandom(seed);
  const cuts = new Set<number>();
  // n−1 distinct cut points in 1..S−1 (a partial Fisher–Yates over the candidates).
  const candidates = Int32Array.from({ length: seqLen - 1 }, (_, i) => i + 1);
  for (let i = 0; i < n - 1; i++) {
    const j = i + Math.floor(rng.next() * (candidates.length - i));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
    cuts.add(candidates[i]);
  }
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), seqLen];
  return sorted.slice(1).map((c, i) => c - sorted[i]);
}

/** Each position's document id (its index) and its position inside the document. */
export function documentIds(lens: readonly number[]): { ids: Int32Array; inDoc: Int32Array } {
  const S = lens.reduce((a, b) => a + b, 0);
  const ids = new Int32Array(S);
  const inDoc = new Int32Array(S);
  let at = 0;
  lens.forEach((len, d) => {
    for (let i = 0; i < len; i++) {
      ids[at + i] = d;
      inDoc[at + i] = i;
    }
    at += len;
  });
  return { ids, inDoc };
}

/**
 * Query–key pairs each rank's queries attend to under the causal document mask (what the ring
 * strategies compute per rank; attention FLOPs are 4·D·H per pair forward, ×3.5 with backward),
 * from each position's place in its document: position p sees inDoc[p] + 1 keys.
 */
export function visiblePairsPerRank(layout: Layout, inDoc: Int32Array, causal: boolean, lens: readonly number[], ids: Int32Array): number[] {
  return Array.from({ length: layout.worldSize }, (_, r) => {
    let pairs = 0;
    for (const p of layout.positions(r)) pairs += causal ? inDoc[p] + 1 : lens[ids[p]];
    return pairs;
  });
}
