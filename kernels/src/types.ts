import type * as tf from '@tensorflow/tfjs';

/**
 * One block of attention work: a query block against one key/value block.
 * Tensors are head-major: q_HSD = [heads, seq, headDim]. K/V carry kvHeads ≤ heads
 * (GQA/MQA): query head h uses K/V head floor(h / (heads / kvHeads)).
 *
 * Masking is decided only from global positions and, for packed sequences, document ids: with
 * `causal`, query i sees key j only if posK[j] <= posQ[i]; with docQ/docK, only if
 * docQ[i] === docK[j]. So one kernel serves every layout and uneven shard.
 */
export interface BlockInputs {
  q: tf.Tensor3D; // [H, Sq, D]
  k: tf.Tensor3D; // [Hkv, Sk, D]
  v: tf.Tensor3D; // [Hkv, Sk, D]
  posQ: Int32Array; // [Sq] global positions of the queries
  posK: Int32Array; // [Sk] global positions of the keys
  /**
   * Document masking (packed sequences): the document id of each query [Sq] and key [Sk]. When
   * given (both or neither), query i sees key j only if docQ[i] === docK[j], on top of `causal`.
   */
  docQ?: Int32Array;
  docK?: Int32Array;
  causal: boolean;
  scale: number;
}

/** out is row-normalised inside the block; lse = logsumexp of the (scaled, masked) scores. */
export interface BlockForward {
  out: tf.Tensor3D; // [H, Sq, D]
  lse: tf.Tensor2D; // [H, Sq]; -Infinity for a row that sees no key in this block
}

export interface BlockBackwardInputs extends BlockInputs {
  dout: tf.Tensor3D; // [H, Sq, D] gradient of the final output
  out: tf.Tensor3D; // [H, Sq, D] the final (merged over all blocks) output
  lse: tf.Tensor2D; // [H, Sq] the final (global) lse
}

export interface BlockGrads {
  dq: tf.Tensor3D; // [H, Sq, D]
  dk: tf.Tensor3D; // [Hkv, Sk, D]
  dv: tf.Tensor3D; // [Hkv, Sk, D]
}

/** A kernel implementation (tfjs ops, native), all behind this shape. */
export interface AttentionKernel {
  readonly name: string;
  forward(inp: BlockInputs): BlockForward;
  backward(inp: BlockBackwardInputs): BlockGrads;
  /**
   * The same results computed off the JS thread, so the event loop moves network frames
   * meanwhile (the ring's overlap needs this). The inputs must stay alive and unchanged until the
   * promise settles. Kernels without it are run synchronously by `forwardAsync`/`backwardAsync`.
   */
  forwardAsync?(inp: BlockInputs): Promise<BlockForward>;
  backwardAsync?(inp: BlockBackwardInputs): Promise<BlockGrads>;
}

/** kernel.forwardAsync where the kernel has it, else its synchronous forward. */
export async function forwardAsync(kernel: AttentionKernel, inp: BlockInputs): Promise<BlockForward> {
  return kernel.forwardAsync ? kernel.forwardAsync(inp) : kernel.forward(inp);
}

/** kernel.backwardAsync where the kernel has it, else its synchronous backward. */
export async function backwardAsync(kernel: AttentionKernel, inp: BlockBackwardInputs): Promise<BlockGrads> {
  return kernel.backwardAsync ? kernel.backwardAsync(inp) : kernel.backward(inp);
}
