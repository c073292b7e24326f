import { RingtrainError } from '@ringtrain/core';
import * as tf from '@tensorflow/tfjs';
import { broadcastRows } from './broadcast-rows';
import type { BlockForward } from './types';

/**
 * Log-sum-exp merge of block partials (DESIGN.md "Attention math"), in the stable form:
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
  return tf.tidy(() => {
    const hi = tf.maximum(acc.lse, part.lse); // [H, Sq]
    const lo = tf.minimum(acc.lse, part.lse);
    // Rows with no key on either side: hi - hi and lse_b - lse would be (-inf) - (-inf) = NaN.
    const empty = tf.equal(hi, -Infinity);
    const hiSafe = tf.where(empty, 0, hi);
    const lse = tf.add(hi, tf.log1p(tf.exp(tf.sub(lo, hiSafe))));
    const w = tf.sigmoid(tf.where(empty, 0, tf.sub(part.lse, acc.lse))); // weight of part in the merged row
    const [heads, seqQ, headDim] = acc.out.shape;
    const wRows = broadcastRows(tf.reshape(w, [heads, seqQ, 1]), headDim); // [H, Sq, D]
    const out = tf.sub(acc.out, tf.mul(wRows, tf.sub(acc.out, part.out)));
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
