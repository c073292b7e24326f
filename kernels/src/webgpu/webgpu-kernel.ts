import * as tf from '@tensorflow/tfjs';
import { backwardDims, blockDims, emptyForward, emptyGrads } from '../block-dims';
import { blockMask, type BlockMask } from '../mask';
import type { AttentionKernel, BlockBackwardInputs, BlockForward, BlockGrads, BlockInputs } from '../types';
import { FlashKvGradProgram } from './flash-backward-kv';
import { FlashQGradProgram } from './flash-backward-q';
import { FlashForwardProgram } from './flash-forward';
import { activeWebgpuBackend, checkFloat32, positionsTensor, runProgram } from './run-program';
import { checkLaunchable } from './tiles';
import { flashUniforms } from './wgsl';

/**
 * Fused flash attention on tfjs's WebGPU backend (WGSL programs in this folder), behind the same
 * contract as tfjsKernel: head-major tensors, GQA, masking from global positions and document
 * ids, a −inf lse for rows that see no key, zero gradients where the global lse is −inf. Blocks
 * no query can see launch nothing. The causal test is compiled in only for blocks where it hides
 * something, the document test only for blocks that hold more than one document (and only then
 * do the document ids travel to the device).
 *
 * The work is queued on the device and the call returns; reading a result (`await t.data()`)
 * waits for it, so the JS thread stays free meanwhile and no async variant is needed.
 * Every tensor returned is new and owned by the caller; inputs are only read.
 */
export const webgpuKernel: AttentionKernel = { name: 'webgpu-flash', forward, backward };

function forward(inp: BlockInputs): BlockForward {
  const d = blockDims(inp);
  const mask = blockMask(inp.posQ, inp.posK, inp.causal, inp.docQ, inp.docK);
  if (mask.visibility === 'none') return emptyForward(d);
  checkFloat32({ q: inp.q, k: inp.k, v: inp.v });
  checkLaunchable(d, mask.docs);
  const backend = activeWebgpuBackend();
  return tf.tidy(() => {
    const pos = maskTensor(inp, mask);
    const program = new FlashForwardProgram(d, mask.causal, mask.docs);
    const packed = runProgram(backend, program, [inp.q, inp.k, inp.v, pos], flashUniforms(d, inp.scale));
    return {
      out: tf.slice(packed, [0, 0, 0], [d.heads, d.seqQ, d.headDim]) as tf.Tensor3D,
      lse: tf.reshape(tf.slice(packed, [0, 0, d.headDim], [d.heads, d.seqQ, 1]), [d.heads, d.seqQ]) as tf.Tensor2D,
    };
  });
}

function backward(inp: BlockBackwardInputs): BlockGrads {
  const d = backwardDims(inp);
  const mask = blockMask(inp.posQ, inp.posK, inp.causal, inp.docQ, inp.docK);
  if (mask.visibility === 'none') return emptyGrads(d);
  checkFloat32({ q: inp.q, k: inp.k, v: inp.v, dout: inp.dout, out: inp.out, lse: inp.lse });
  checkLaunchable(d, mask.docs);
  const backend = activeWebgpuBackend();
  return tf.tidy(() => {
    const pos = maskTensor(inp, mask);
    // rowDot = rowsum(dO∘O) with the global out; packed with lse so the programs take one buffer.
    const rowDot = tf.sum(tf.mul(inp.dout, inp.out), -1);
    const stats = tf.stack([inp.lse, rowDot], -1);
    const inputs = [inp.q, inp.k, inp.v, inp.dout, stats, pos];
    const uniforms = flashUniforms(d, inp.scale);
    const dq = runProgram(backend, new FlashQGradProgram(d, mask.causal, mask.docs), inputs, uniforms) as tf.Tensor3D;
    const dkv = runProgram(backend, new FlashKvGradProgram(d, mask.causal, mask.docs), inputs, uniforms);
    return {
      dq,
      dk: tf.slice(dkv, [0, 0, 0], [d.kvHeads, d.seqK, d.headDim]) as tf.Tensor3D,
      dv: tf.slice(dkv, [0, 0, d.headDim], [d.kvHeads, d.seqK, d.headDim]) as tf.Tensor3D,
    };
  });
}

/** The Pos buffer: positions, and the document ids when the programs test them. */
function maskTensor(inp: BlockInputs, mask: BlockMask): tf.Tensor1D {
  return positionsTensor(inp.posQ, inp.posK, mask.docs && inp.docQ && inp.docK ? [inp.docQ, inp.docK] : null);
}
