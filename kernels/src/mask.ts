import { RingtrainError } from '@ringtrain/core';

/**
 * Masking from global positions and, for packed sequences, document ids:
 *   - causal: query i sees key j only if posK[j] <= posQ[i];
 *   - documents (docQ/docK given): query i sees key j only if docQ[i] === docK[j].
 * Both rules apply together. Deciding visibility per block first lets kernels skip the mask
 * (every pair visible) or the whole block (no pair visible), which is what ring/striped/zigzag
 * blocks mostly are, and what a block of other documents always is.
 */
export type BlockVisibility = 'all' | 'none' | 'partial';

/**
 * A block's visibility and which per-pair tests a 'partial' block needs: `causal` when the
 * position rule hides some pair, `docs` when the blocks hold more than one document between them.
 * Both are false for 'all' and 'none' (no per-pair test at all).
 */
export interface BlockMask {
  visibility: BlockVisibility;
  causal: boolean;
  docs: boolean;
}

const NONE: BlockMask = Object.freeze({ visibility: 'none', causal: false, docs: false });
const ALL: BlockMask = Object.freeze({ visibility: 'all', causal: false, docs: false });

/**
 * The document ids of a block, or null without documents. Refuses one side without the other
 * (KERNEL_SHAPE): a query's documents are meaningless without the keys'.
 */
export function documentPair(docQ: Int32Array | undefined, docK: Int32Array | undefined): [Int32Array, Int32Array] | null {
  if (docQ === undefined && docK === undefined) return null;
  if (docQ === undefined || docK === undefined) {
    throw new RingtrainError('KERNEL_SHAPE', `attention block: docQ and docK must be given together (got only ${docQ === undefined ? 'docK' : 'docQ'})`, {
      hint: 'Pass the document id of every query (docQ [Sq]) and of every key (docK [Sk]), or neither.',
      details: { docQ: docQ?.length ?? null, docK: docK?.length ?? null },
    });
  }
  return [docQ, docK];
}

/**
 * Exact in O(Sq + Sk): 'none' iff no (query, key) pair is visible, 'all' iff every pair is.
 * With documents, a pair exists iff some document has a key at or before (causal) one of its
 * queries, found from each document's latest query; every pair is visible only if all queries
 * and keys belong to one and the same document.
 */
export function blockMask(posQ: Int32Array, posK: Int32Array, causal: boolean, docQ?: Int32Array, docK?: Int32Array): BlockMask {
  const docs = documentPair(docQ, docK);
  if (posQ.length === 0 || posK.length === 0) return NONE;
  let causalAll = true;
  if (causal) {
    const [minQ, maxQ] = extent(posQ);
    const [minK, maxK] = extent(posK);
    // The earliest key is visible to the latest query unless it lies beyond it.
    if (minK > maxQ) return NONE;
    causalAll = maxK <= minQ;
  }
  if (docs === null) return causalAll ? ALL : { visibility: 'partial', causal: true, docs: false };
  const [dq, dk] = docs;
  const [loQ, hiQ] = extent(dq);
  const [loK, hiK] = extent(dk);
  if (hiQ < loK || hiK < loQ) return NONE; // the id ranges are apart: no shared document
  if (loQ === hiQ && loK === hiK) {
    // One document on each side, and the same one (the ranges touch): only the position rule.
    return causalAll ? ALL : { visibility: 'partial', causal: true, docs: false };
  }
  if (!sharesVisiblePair(posQ, posK, causal && !causalAll, dq, dk)) return NONE;
  return { visibility: 'partial', causal: !causalAll, docs: true };
}

/** blockMask's visibility alone (see there). */
export function blockVisibility(posQ: Int32Array, posK: Int32Array, causal: boolean, docQ?: Int32Array, docK?: Int32Array): BlockVisibility {
  return blockMask(posQ, posK, causal, docQ, docK).visibility;
}

/**
 * Additive mask bias [Sq, Sk] (row-major): 0 where query i sees key j, -Infinity elsewhere, by
 * the causal rule (when `causal`) and the document rule (when docQ/docK are given).
 */
export function maskBias(posQ: Int32Array, posK: Int32Array, causal: boolean, docQ?: Int32Array, docK?: Int32Array): Float32Array {
  const docs = documentPair(docQ, docK);
  const sq = posQ.length;
  const sk = posK.length;
  const bias = new Float32Array(sq * sk);
  for (let i = 0; i < sq; i++) {
    const row = i * sk;
    if (causal) {
      const pq = posQ[i];
      for (let j = 0; j < sk; j++) if (posK[j] > pq) bias[row + j] = -Infinity;
    }
    if (docs !== null) {
      const [dq, dk] = docs;
      const d = dq[i];
      for (let j = 0; j < sk; j++) if (dk[j] !== d) bias[row + j] = -Infinity;
    }
  }
  return bias;
}

/**
 * Whether some query sees some key of its own document. With `causal`, a document's keys are
 * visible to it iff its earliest key is at or before its latest query. Runs of one document
 * (the usual packing) cost one map lookup each.
 */
function sharesVisiblePair(posQ: Int32Array, posK: Int32Array, causal: boolean, docQ: Int32Array, docK: Int32Array): boolean {
  const latestQuery = new Map<number, number>(); // document -> max posQ of its queries
  let runDoc = docQ[0];
  let runMax = posQ[0];
  for (let i = 1; i <= docQ.length; i++) {
    if (i < docQ.length && docQ[i] === runDoc) {
      if (posQ[i] > runMax) runMax = posQ[i];
      continue;
    }
    const prev = latestQuery.get(runDoc);
    if (prev === undefined || runMax > prev) latestQuery.set(runDoc, runMax);
    if (i < docQ.length) {
      runDoc = docQ[i];
      runMax = posQ[i];
    }
  }
  let lastDoc: number | null = null;
  let lastLatest: number | undefined;
  for (let j = 0; j < docK.length; j++) {
    if (docK[j] !== lastDoc) {
      lastDoc = docK[j];
      lastLatest = latestQuery.get(lastDoc);
    }
    if (lastLatest !== undefined && (!causal || posK[j] <= lastLatest)) return true;
  }
  return false;
}

function extent(values: Int32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  return [lo, hi];
}
