import * as tf from '@tensorflow/tfjs';
import { blockVisibility, type BlockForward } from '@ringtrain/kernels';

/**
 * No query of the block sees any of its keys (causal: every key after every query; documents:
 * no document in common): the block is skipped, with no kernel call.
 */
export function blockFullyMasked(causal: boolean, posQ: Int32Array, posK: Int32Array, docQ?: Int32Array, docK?: Int32Array): boolean {
  return blockVisibility(posQ, posK, causal, docQ, docK) === 'none';
}

/** The result for rows that saw no key at all: out 0, lse -inf. */
export function emptyPartial(heads: number, rows: number, headDim: number): BlockForward {
  return { out: tf.zeros([heads, rows, headDim]), lse: tf.fill([heads, rows], -Infinity) };
}

/** acc += add, disposing the old accumulator and the addend. */
export function accumulate<T extends tf.Tensor>(acc: T | null, add: T): T {
  if (!acc) return add;
  const sum = tf.add(acc, add) as T;
  tf.dispose([acc, add]);
  return sum;
}
