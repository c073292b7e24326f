import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import { backwardDims, blockDims } from '../block-dims';
import type { AttentionKernel, BlockBackwardInputs, BlockForward, BlockGrads, BlockInputs } from '../types';
import { loadNativeAddon, type NativeAddon } from './addon';
import { activeCpuBackend, tensorValues } from './cpu-data';

export interface NativeKernelOptions {
  /** Kernel name reported in logs and test titles. Default 'native'. */
  name?: string;
  /** Worker threads; 0 (default) follows OPENBLAS_NUM_THREADS (see NativeAddon). */
  threads?: number;
}

/**
 * The fused blockwise attention of kernels/native/src/attention.cc behind the AttentionKernel
 * contract. Inputs are read in place from the CPU backend; outputs are new tensors that wrap the
 * arrays the addon filled (tfjs's CPU backend stores a Float32Array as given), so nothing is
 * copied on the way in or out.
 */
export function createNativeKernel(addon: NativeAddon, opts: NativeKernelOptions = {}): AttentionKernel {
  const threads = opts.threads ?? 0;

  // Each call's arguments (inputs read in place, fresh output arrays) and how to wrap the outputs.
  function forwardCall(inp: BlockInputs) {
    const d = blockDims(inp);
    const backend = activeCpuBackend();
    const out = new Float32Array(d.heads * d.seqQ * d.headDim);
    const lse = new Float32Array(d.heads * d.seqQ);
    const args: Parameters<NativeAddon['attentionForward']> = [
      tensorValues(backend, inp.q, 'q'),
      tensorValues(backend, inp.k, 'k'),
      tensorValues(backend, inp.v, 'v'),
      inp.posQ,
      inp.posK,
      inp.docQ ?? null,
      inp.docK ?? null,
      d.heads,
      d.kvHeads,
      d.seqQ,
      d.seqK,
      d.headDim,
      inp.causal,
      inp.scale,
      out,
      lse,
      threads,
    ];
    const result = (): BlockForward => ({ out: tf.tensor3d(out, [d.heads, d.seqQ, d.headDim]), lse: tf.tensor2d(lse, [d.heads, d.seqQ]) });
    return { args, result };
  }

  function backwardCall(inp: BlockBackwardInputs) {
    const d = backwardDims(inp);
    const backend = activeCpuBackend();
    const dq = new Float32Array(d.heads * d.seqQ * d.headDim);
    const dk = new Float32Array(d.kvHeads * d.seqK * d.headDim);
    const dv = new Float32Array(d.kvHeads * d.seqK * d.headDim);
    const args: Parameters<NativeAddon['attentionBackward']> = [
      tensorValues(backend, inp.q, 'q'),
      tensorValues(backend, inp.k, 'k'),
      tensorValues(backend, inp.v, 'v'),
      inp.posQ,
      inp.posK,
      inp.docQ ?? null,
      inp.docK ?? null,
      d.heads,
      d.kvHeads,
      d.seqQ,
      d.seqK,
      d.headDim,
      inp.causal,
      inp.scale,
      tensorValues(backend, inp.dout, 'dout'),
      tensorValues(backend, inp.out, 'out'),
      tensorValues(backend, inp.lse, 'lse'),
      dq,
      dk,
      dv,
      threads,
    ];
    const result = (): BlockGrads => ({
      dq: tf.tensor3d(dq, [d.heads, d.seqQ, d.headDim]),
      dk: tf.tensor3d(dk, [d.kvHeads, d.seqK, d.headDim]),
      dv: tf.tensor3d(dv, [d.kvHeads, d.seqK, d.headDim]),
    });
    return { args, result };
  }

  return {
    name: opts.name ?? 'native',
    forward(inp) {
      const call = forwardCall(inp);
      addon.attentionForward(...call.args);
      return call.result();
    },
    backward(inp) {
      const call = backwardCall(inp);
      addon.attentionBackward(...call.args);
      return call.result();
    },
    async forwardAsync(inp) {
      const call = forwardCall(inp);
      await addon.attentionForwardAsync(...call.args);
      return call.result();
    },
    async backwardAsync(inp) {
      const call = backwardCall(inp);
      await addon.attentionBackwardAsync(...call.args);
      return call.result();
    },
  };
}

let defaultKernel: AttentionKernel | null = null;

function kernel(): AttentionKernel {
  if (defaultKernel === null) {
    const r = loadNativeAddon();
    if (r.addon === null) {
      throw new RingtrainError('NATIVE_UNAVAILABLE', `native attention kernel unavailable: ${r.reason}`, {
        hint: 'Check nativeStatus().loaded before choosing it, or use tfjsKernel.',
      });
    }
    defaultKernel = createNativeKernel(r.addon);
  }
  return defaultKernel;
}

/** The native kernel on the default addon, loaded on first use; throws NATIVE_UNAVAILABLE without it. */
export const nativeKernel: AttentionKernel = {
  name: 'native',
  forward: (inp) => kernel().forward(inp),
  backward: (inp) => kernel().backward(inp),
  forwardAsync: (inp) => kernel().forwardAsync!(inp),
  backwardAsync: (inp) => kernel().backwardAsync!(inp),
};
