import { RingtrainError } from '@ringtrain/core';
import * as tf from '@tensorflow/tfjs';
import type { BlockForward } from './types';

/**
 * Log-sum-exp merge of block partials (docs/attention.md "Merging blocks"), in the stable form:
 *   lse' = hi + log1p(exp(lo - hi))            hi/lo = max/min of the two lse
 *   o'   = o - sigmoid(lse_b - lse) * (o - o_b)
 * A -inf lse on one side gives weight exactly 0 or 1; -inf on both keeps (-inf, 0).
 *
 * Ownership: mergePartial only reads its inputs and always returns new tensors (even when
 * acc is null) that the caller owns. mergeInto is the consuming form for accumulation loops.
 */
export function mergePartial(acc: BlockForward | null, part: BlockForward): BlockForward {
  if (acc === null) return { out: part.out.clone(), lse: part.lse.clone() };
  assertSameShapes(acc, part);
  if (tf.getBackend() !== 'cpu') return mergeOnDevice(acc, part);
  // One pass over the rows in JS: as tfjs ops the [H, Sq, D] part alone was four passes plus a
  // broadcast, a visible share of a ring step.
  const [la, lb] = [acc.lse.dataSync(), part.lse.dataSync()];
  const [oa, ob] = [acc.out.dataSync(), part.out.dataSync()];
  const D = acc.out.shape[2];
  const lse = new Float32Array(la.length);
  const out = new Float32Array(oa.length);
  for (let r = 0; r < la.length; r++) {
    const hi = Math.max(la[r], lb[r]);
    const lo = Math.min(la[r], lb[r]);
    // Rows with no key on either side: hi - hi and lse_b - lse would be (-inf) - (-inf) = NaN.
    const empty = hi === -Infinity;
    lse[r] = empty ? -Infinity : hi + Math.log1p(Math.exp(lo - hi));
    const w = empty ? 0.5 : 1 / (1 + Math.exp(la[r] - lb[r])); // sigmoid(lse_b - lse_a): weight of part
    for (let j = r * D; j < (r + 1) * D; j++) out[j] = oa[j] - w * (oa[j] - ob[j]);
  }
  return { out: tf.tensor3d(out, acc.out.shape), lse: tf.tensor2d(lse, acc.lse.shape) };
}

/**
 * The same merge as tfjs ops, for backends whose tensors live on a device (reading them back to
 * merge in JS would cost a round trip per block). -inf on both sides: hi = -inf gives lse -inf
 * and weight 0.5 of two zero outputs, as above.
 */
export function mergeOnDevice(acc: BlockForward, part: BlockForward): BlockForward {
  return tf.tidy(() => {
    const [la, lb] = [acc.lse, part.lse];
    const hi = tf.maximum(la, lb);
    const lo = tf.minimum(la, lb);
    const empty = tf.equal(hi, -Infinity);
    const lse = tf.where(empty, hi, tf.add(hi, tf.log1p(tf.exp(tf.sub(lo, hi)))));
    const w = tf.where(empty, tf.fill(la.shape, 0.5), tf.sigmoid(tf.sub(lb, la))); // weight of part
    const out = tf.sub(acc.out, tf.mul(tf.expandDims(w, 2), tf.sub(acc.out, part.out)));
    return { out: out as tf.Tensor3D, lse: lse as tf.Tensor2D };
  });
}

/**
 * Consuming merge: takes ownership of acc and part (disposes both, or hands part back as the
 * new accumulator when acc is null) and returns the accumulator the caller now owns:
 *   acc = mergeInto(acc, kernel.forward(block));
 */
export function mergeInto(acc: BlockForward | null, part: BlockForward): BlockForward {
  if (acc === null) return part;
  const merged = mergePartial(acc, part);
  disposeForward(acc);
  disposeForward(part);
  return merged;
}

export function disposeForward(f: BlockForward): void {
  f.out.dispose();
  f.lse.dispose();
}

function assertSameShapes(a: BlockForward, b: BlockForward): void {
  const same = (x: readonly number[], y: readonly number[]) => x.length === y.length && x.every((n, i) => n === y[i]);
  if (!same(a.out.shape, b.out.shape) || !same(a.lse.shape, b.lse.shape)) {
    throw new RingtrainError('KERNEL_SHAPE', 'mergePartial: the two partials differ in shape', {
      hint: 'Merge only partials of the same query block: out [H,Sq,D] and lse [H,Sq] on both sides.',
      details: { accOut: a.out.shape, partOut: b.out.shape, accLse: a.lse.shape, partLse: b.lse.shape },
    });
  }
}
