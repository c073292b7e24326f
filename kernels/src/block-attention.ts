import * as tf from '@tensorflow/tfjs';
import { broadcastRows } from './broadcast-rows';
import { backwardDims, blockDims, emptyForward, emptyGrads, type BlockDims } from './block-dims';
import { blockVisibility, maskBias } from './mask';
import type { AttentionKernel, BlockBackwardInputs, BlockForward, BlockGrads, BlockInputs } from './types';

/**
 * One attention block with tfjs ops (see docs/attention.md).
 *
 * GQA without copying K/V: the G = H/Hkv query heads that share a K/V head are contiguous, so
 * q [H,Sq,D] is the same memory as [Hkv, G*Sq, D]; one batched matMul per K/V head then serves
 * the whole group, and contracting over G*Sq in the backward sums dK/dV over the group for free.
 *
 * Every tensor returned is new and owned by the caller; inputs are only read.
 */
export const tfjsKernel: AttentionKernel = { name: 'tfjs', forward, backward };

function forward(inp: BlockInputs): BlockForward {
  const d = blockDims(inp);
  const bias = blockBias(inp);
  if (bias === 'none') return emptyForward(d);
  return tf.tidy(() => {
    const s = groupedScores(scaledQuery(inp, d), inp.k, d, bias); // [Hkv, G*Sq, Sk]
    const m = tf.max(s, -1, true); // [Hkv, G*Sq, 1]
    // A row that sees no key has m = -inf, and (-inf) - (-inf) is NaN: shift such rows by 0.
    const mSafe = tf.where(tf.equal(m, -Infinity), 0, m);
    const e = tf.exp(tf.sub(s, broadcastRows(mSafe, d.seqK))); // masked entries: exp(-inf) = 0
    const l = tf.sum(e, -1, true); // [Hkv, G*Sq, 1]; 0 only for rows that see no key
    const lSafe = tf.where(tf.equal(l, 0), 1, l); // so those rows get 0 / 1 = 0, not 0 / 0
    const out = tf.div(tf.matMul(e, inp.v), broadcastRows(lSafe, d.headDim)); // [Hkv, G*Sq, D]
    const lse = tf.add(mSafe, tf.log(l)); // log(0) = -inf for rows that see no key
    return {
      out: tf.reshape(out, [d.heads, d.seqQ, d.headDim]) as tf.Tensor3D,
      lse: tf.reshape(lse, [d.heads, d.seqQ]) as tf.Tensor2D,
    };
  });
}

function backward(inp: BlockBackwardInputs): BlockGrads {
  const d = backwardDims(inp);
  const bias = blockBias(inp);
  if (bias === 'none') return emptyGrads(d);
  return tf.tidy(() => {
    const grouped = [d.kvHeads, d.group * d.seqQ, d.headDim];
    const qs = scaledQuery(inp, d); // [Hkv, G*Sq, D]
    const s = groupedScores(qs, inp.k, d, bias); // [Hkv, G*Sq, Sk]
    // p uses the global normaliser. A row whose global lse is -inf saw no key anywhere; treating
    // its normaliser as +inf gives p = exp(s - inf) = 0 instead of exp(-inf - (-inf)) = NaN.
    const lse = tf.reshape(inp.lse, [d.kvHeads, d.group * d.seqQ, 1]);
    const lseSafe = tf.where(tf.equal(lse, -Infinity), Infinity, lse);
    const p = tf.exp(tf.sub(s, broadcastRows(lseSafe, d.seqK))); // [Hkv, G*Sq, Sk]; masked entries are 0
    const dout = tf.reshape(inp.dout, grouped);
    const rowDot = tf.sum(tf.mul(dout, tf.reshape(inp.out, grouped)), -1, true); // D = rowsum(dO∘O)
    const dv = tf.matMul(p, dout, true, false); // [Hkv, Sk, D]
    const dp = tf.matMul(dout, inp.v, false, true); // [Hkv, G*Sq, Sk]
    const ds = tf.mul(p, tf.sub(dp, broadcastRows(rowDot, d.seqK)));
    const dq = tf.mul(tf.matMul(ds, inp.k), inp.scale); // [Hkv, G*Sq, D]
    const dk = tf.matMul(ds, qs, true, false); // [Hkv, Sk, D]; qs already carries the scale
    return { dq: tf.reshape(dq, [d.heads, d.seqQ, d.headDim]) as tf.Tensor3D, dk: dk as tf.Tensor3D, dv: dv as tf.Tensor3D };
  });
}

/** 'none' for a block no query sees, else its mask bias [Sq, Sk] (null when every pair is visible). */
function blockBias(inp: BlockInputs): Float32Array | null | 'none' {
  const visibility = blockVisibility(inp.posQ, inp.posK, inp.causal, inp.docQ, inp.docK);
  if (visibility === 'none') return 'none';
  return visibility === 'partial' ? maskBias(inp.posQ, inp.posK, inp.causal, inp.docQ, inp.docK) : null;
}

/** q·scale folded by group: [H,Sq,D] -> [Hkv, G*Sq, D]. Scaling q is cheaper than scaling s. */
function scaledQuery(inp: BlockInputs, d: BlockDims): tf.Tensor3D {
  return tf.reshape(tf.mul(inp.q, inp.scale), [d.kvHeads, d.group * d.seqQ, d.headDim]);
}

/** s = qs·kᵀ + bias with qs [Hkv, G*Sq, D], k [Hkv, Sk, D] -> [Hkv, G*Sq, Sk]. Call inside tf.tidy. */
function groupedScores(qs: tf.Tensor3D, k: tf.Tensor3D, d: BlockDims, bias: Float32Array | null): tf.Tensor3D {
  const s = tf.matMul(qs, k, false, true);
  if (bias === null) return s as tf.Tensor3D;
  // The mask depends on (query, key) only, so one [Sq, Sk] bias broadcasts over [Hkv, G]
  // (a trailing suffix of the shape: tfjs-cpu's fast broadcast path).
  const masked = tf.add(tf.reshape(s, [d.kvHeads, d.group, d.seqQ, d.seqK]), tf.tensor2d(bias, [d.seqQ, d.seqK]));
  return tf.reshape(masked, [d.kvHeads, d.group * d.seqQ, d.seqK]);
}
