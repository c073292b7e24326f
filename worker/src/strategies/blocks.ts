import * as tf from '@tensorflow/tfjs';
import type { BlockForward } from '@ringtrain/kernels';

/** With a causal mask, a key block whose first key comes after the last query is all masked. */
export function blockFullyMasked(causal: boolean, posQ: Int32Array, posK: Int32Array): boolean {
  if (!causal || posQ.length === 0 || posK.length === 0) return posK.length === 0;
  let maxQ = -Infinity;
  for (const p of posQ) if (p > maxQ) maxQ = p;
  let minK = Infinity;
  for (const p of posK) if (p < minK) minK = p;
  return minK > maxQ;
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
