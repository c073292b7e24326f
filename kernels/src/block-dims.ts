import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import { documentPair } from './mask';
import type { BlockBackwardInputs, BlockInputs } from './types';

/** Sizes of one block, checked once so kernels can trust them. G = heads per K/V head. */
export interface BlockDims {
  heads: number; // H
  kvHeads: number; // Hkv
  group: number; // G = H / Hkv
  seqQ: number; // Sq
  seqK: number; // Sk
  headDim: number; // D
}

/** Validates a block's shapes (a wrong shape would otherwise surface as a broadcast deep in tfjs). */
export function blockDims(inp: BlockInputs): BlockDims {
  const [heads, seqQ, headDim] = inp.q.shape;
  const [kvHeads, seqK, kDim] = inp.k.shape;
  const dims = { heads, kvHeads, group: heads / kvHeads, seqQ, seqK, headDim };
  if (inp.q.rank !== 3 || inp.k.rank !== 3 || inp.v.rank !== 3) {
    throw shapeError('q, k and v must be rank 3 (head-major [heads, seq, headDim])', inp);
  }
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    throw shapeError(`heads ${heads} must be a multiple of kvHeads ${kvHeads}`, inp);
  }
  if (kDim !== headDim || !sameShape(inp.k.shape, inp.v.shape)) {
    throw shapeError('k and v must both be [kvHeads, Sk, headDim] with the headDim of q', inp);
  }
  if (inp.posQ.length !== seqQ || inp.posK.length !== seqK) {
    throw shapeError(`posQ/posK lengths ${inp.posQ.length}/${inp.posK.length} must equal Sq ${seqQ} / Sk ${seqK}`, inp);
  }
  const docs = documentPair(inp.docQ, inp.docK); // refuses one without the other
  if (docs !== null && (docs[0].length !== seqQ || docs[1].length !== seqK)) {
    throw shapeError(`docQ/docK lengths ${docs[0].length}/${docs[1].length} must equal Sq ${seqQ} / Sk ${seqK}`, inp);
  }
  return dims;
}

export function backwardDims(inp: BlockBackwardInputs): BlockDims {
  const dims = blockDims(inp);
  if (!sameShape(inp.dout.shape, inp.q.shape) || !sameShape(inp.out.shape, inp.q.shape)) {
    throw shapeError('dout and out must have the shape of q [heads, Sq, headDim]', inp);
  }
  if (!sameShape(inp.lse.shape, [dims.heads, dims.seqQ])) throw shapeError('lse must be [heads, Sq]', inp);
  return dims;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function shapeError(message: string, inp: BlockInputs): RingtrainError {
  const shapes: Record<string, unknown> = { q: inp.q.shape, k: inp.k.shape, v: inp.v.shape };
  shapes.posQ = inp.posQ.length;
  shapes.posK = inp.posK.length;
  if (inp.docQ !== undefined) shapes.docQ = inp.docQ.length;
  if (inp.docK !== undefined) shapes.docK = inp.docK.length;
  if ('dout' in inp) {
    const b = inp as BlockBackwardInputs;
    Object.assign(shapes, { dout: b.dout.shape, out: b.out.shape, lse: b.lse.shape });
  }
  return new RingtrainError('KERNEL_SHAPE', `attention block: ${message}`, {
    hint: 'Pass head-major tensors q [H,Sq,D], k/v [Hkv,Sk,D] with H divisible by Hkv (see kernels/src/types.ts).',
    details: shapes,
  });
}

/** The result of a block no query can see: out 0, lse -inf (every kernel's fast path). */
export function emptyForward(d: BlockDims): { out: tf.Tensor3D; lse: tf.Tensor2D } {
  return { out: tf.zeros([d.heads, d.seqQ, d.headDim]), lse: tf.fill([d.heads, d.seqQ], -Infinity) };
}

/** The gradients of a block no query can see: all zero. */
export function emptyGrads(d: BlockDims): { dq: tf.Tensor3D; dk: tf.Tensor3D; dv: tf.Tensor3D } {
  return { dq: tf.zeros([d.heads, d.seqQ, d.headDim]), dk: tf.zeros([d.kvHeads, d.seqK, d.headDim]), dv: tf.zeros([d.kvHeads, d.seqK, d.headDim]) };
}
