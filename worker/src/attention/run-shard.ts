import * as tf from '@tensorflow/tfjs';
import { readHeadMajor, toHeadMajor, type AttentionKernel } from '@ringtrain/kernels';
import type { Transport } from '@ringtrain/transport';
import type { Strategy } from '../strategies/types';
import type { AttentionProblem } from './problem';

/** One rank's inputs in the global convention: sequence-major [Sr, H, D] rows. */
export interface ShardArrays {
  q: Float32Array; // [Sr, H, D]
  k: Float32Array; // [Sr, Hkv, D]
  v: Float32Array; // [Sr, Hkv, D]
  dout: Float32Array; // [Sr, H, D]
  pos: Int32Array; // [Sr]
  doc?: Int32Array; // [Sr] document ids (document masking)
}

export interface ShardResults {
  out: Float32Array; // [Sr, H, D]
  dq: Float32Array; // [Sr, H, D]
  dk: Float32Array; // [Sr, Hkv, D]
  dv: Float32Array; // [Sr, Hkv, D]
  forwardMs: number;
  backwardMs: number;
}

/**
 * Runs one strategy's forward and backward on this rank's shard and returns the results in
 * the global convention. This is what `ringtrain check` asks every worker to do.
 */
export async function runAttentionShard(
  env: { transport: Transport; kernel: AttentionKernel },
  strategy: Strategy,
  problem: AttentionProblem,
  shard: ShardArrays,
  tag: string,
): Promise<ShardResults> {
  strategy.checkProblem(problem, env.transport.worldSize);
  const S = shard.pos.length;
  const { heads: H, kvHeads: Hkv, headDim: D } = problem;
  const q = toHeadMajor(shard.q, S, H, D);
  const k = toHeadMajor(shard.k, S, Hkv, D);
  const v = toHeadMajor(shard.v, S, Hkv, D);
  const dout = toHeadMajor(shard.dout, S, H, D);
  const ctx = { transport: env.transport, kernel: env.kernel, problem, tag };
  try {
    const t0 = performance.now();
    const { out, saved } = await strategy.forward(ctx, { q, k, v, pos: shard.pos, doc: shard.doc });
    const t1 = performance.now();
    const grads = await strategy.backward(ctx, saved, dout);
    const t2 = performance.now();
    const result: ShardResults = {
      out: await readHeadMajor(out),
      dq: await readHeadMajor(grads.dq),
      dk: await readHeadMajor(grads.dk),
      dv: await readHeadMajor(grads.dv),
      forwardMs: t1 - t0,
      backwardMs: t2 - t1,
    };
    tf.dispose([out, grads.dq, grads.dk, grads.dv]);
    return result;
  } finally {
    tf.dispose([q, k, v, dout]);
  }
}

