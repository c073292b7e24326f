import type * as tf from '@tensorflow/tfjs';
import type { WireTensor } from '@ringtrain/transport';
import type { AttentionProblem } from '../attention/problem';
import { toWire } from '../comm/wire';

/*
 * Splitting heads among the ranks of a Ulysses all-to-all (ulysses.ts over the world, hybrid.ts
 * inside each group): rank j of n gets query heads [j·H/n, (j+1)·H/n) and the K/V heads they use.
 */

/** The K/V heads [lo, hi) used by the query heads of rank j of `worldSize` (replicated when there are fewer K/V heads than ranks). */
export function kvRange(p: AttentionProblem, worldSize: number, j: number): [number, number] {
  const hp = p.heads / worldSize;
  const group = p.heads / p.kvHeads;
  const lo = Math.floor((j * hp) / group);
  const hi = Math.floor(((j + 1) * hp - 1) / group) + 1;
  return [lo, hi];
}

/** Heads [first, first+count) of a head-major tensor, read out for the wire. */
export async function sliceHeads(t: tf.Tensor3D, first: number, count: number): Promise<WireTensor> {
  const part = t.slice([first, 0, 0], [count, -1, -1]);
  const wire = await toWire(part);
  part.dispose();
  return wire;
}

/** dst[offset + i] += src[i]: a K/V head's gradients returned by several ranks are summed. */
export function addRows(dst: Float32Array, src: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] += src[i];
}
