import * as tf from '@tensorflow/tfjs';
import { cloneTensor } from '@ringtrain/protocol';
import type { WireTensor } from '@ringtrain/transport';

/** A block as it travels: named tensors in raw typed arrays. */
export type WireBlock = Record<string, WireTensor>;

/**
 * Reads a tensor's values for the wire: asynchronously, because a GPU backend has no other read
 * in Node (and the event loop moves frames meanwhile). No copy on the CPU backend, so never
 * mutate the result.
 */
export async function toWire(t: tf.Tensor): Promise<WireTensor> {
  if (t.dtype === 'int32') return { dtype: 'int32', shape: [...t.shape], data: (await t.data()) as Int32Array };
  return { dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array };
}

export function positionsWire(pos: Int32Array): WireTensor {
  return { dtype: 'int32', shape: [pos.length], data: pos };
}

export function fromWire3d(w: WireTensor): tf.Tensor3D {
  if (w.dtype !== 'float32' || w.shape.length !== 3) {
    throw new Error(`expected a float32 rank-3 tensor, got ${w.dtype} [${w.shape.join(', ')}]`);
  }
  return tf.tensor3d(w.data as Float32Array, w.shape as [number, number, number]);
}

/** Document ids travel as positions do (int32 [n]); absent when the batch has no documents. */
export function docsWire(doc: Int32Array | undefined): Record<string, WireTensor> {
  return doc ? { doc: positionsWire(doc) } : {};
}

export function docsOf(block: WireBlock): Int32Array | undefined {
  return block.doc ? positionsOf(block.doc) : undefined;
}

export function positionsOf(w: WireTensor): Int32Array {
  if (w.dtype !== 'int32' || w.shape.length !== 1) throw new Error(`expected int32 positions, got ${w.dtype} [${w.shape.join(', ')}]`);
  return w.data as Int32Array;
}

/** acc += add, in place, tensor by tensor (the travelling dK/dV accumulators). */
export function addInto(acc: WireBlock, add: WireBlock): void {
  for (const [name, t] of Object.entries(add)) {
    const a = acc[name];
    if (!a || a.data.length !== t.data.length) throw new Error(`cannot add block tensor "${name}": shapes differ`);
    const ad = a.data;
    const bd = t.data;
    for (let i = 0; i < ad.length; i++) ad[i] += bd[i];
  }
}

/** A writable copy (received buffers and tensor backing stores are not ours to mutate). */
export function copyBlock(b: WireBlock): WireBlock {
  const out: WireBlock = {};
  for (const [name, t] of Object.entries(b)) {
    out[name] = cloneTensor(t);
  }
  return out;
}

export function zerosWire(shape: readonly number[]): WireTensor {
  return { dtype: 'float32', shape: [...shape], data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}
