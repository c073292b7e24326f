import { STRATEGY_LAYOUTS } from '@ringtrain/config';
import * as tf from '@tensorflow/tfjs';
import { PHASE, SPAN } from '@ringtrain/protocol';
import type { AttentionProblem } from '../attention/problem';
import { RingComm } from '../comm/ring-comm';
import { spanEnd, spanStart } from '../trace/tracer';
import { docsOf, docsWire, fromWire3d, positionsOf, positionsWire, toWire, type WireBlock } from '../comm/wire';
import { accumulate } from './blocks';
import type { AttentionContext, Saved, ShardGrads, ShardInputs, Strategy } from './types';

/**
 * Ring Self-Attention (Li et al., "Sequence Parallelism"): the seed paper's method, kept as the
 * baseline. Keys circulate so each rank builds its full rows of scores [S/P × S], a plain
 * softmax runs over whole rows, then values circulate to form the output. The probabilities
 * are kept for backward, so memory grows as S²/P — what the blockwise strategies avoid.
 *
 * GQA: queries are grouped per K/V head, q_HSD [H, Sq, D] -> [Hkv, G·Sq, D], so K/V are never
 * copied per query head.
 */
class RingSelfAttention implements Strategy {
  readonly name = 'rsa' as const;
  readonly layout = STRATEGY_LAYOUTS.rsa;

  checkProblem(_problem: AttentionProblem, _worldSize: number): void {}

  async forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }> {
    const { problem } = ctx;
    const P = ctx.transport.worldSize;
    const [H, Sq, D] = shard.q.shape;
    const Hkv = problem.kvHeads;
    const qg = shard.q.reshape([Hkv, (H / Hkv) * Sq, D]) as tf.Tensor3D; // [Hkv, G·Sq, D]
    const layer = ctx.layer ?? -1;

    // 1. Keys circulate: scores[src] = q·k_srcᵀ·scale, masked by global position.
    const scores: tf.Tensor3D[] = new Array(P);
    const keyPos: Int32Array[] = new Array(P);
    await new RingComm(ctx.transport, `${ctx.tag}.rsa.k`, PHASE.fwd, layer).circulate(
      { k: await toWire(shard.k), pos: positionsWire(shard.pos), ...docsWire(shard.doc) },
      (block, src, hop) => {
        const t0 = spanStart();
        const posK = positionsOf(block.pos);
        const docK = docsOf(block);
        keyPos[src] = posK;
        scores[src] = tf.tidy(() => {
          const k = fromWire3d(block.k);
          const s = tf.mul(tf.matMul(qg, k, false, true), problem.scale) as tf.Tensor3D; // [Hkv, G·Sq, Sk]
          return problem.causal || docK ? tf.add(s, maskBias(shard.pos, posK, problem.causal, H / Hkv, shard.doc, docK)) : s;
        });
        spanEnd(SPAN.attention, t0, PHASE.fwd, layer, hop, src);
      },
    );

    // 2. Softmax over whole rows [Hkv, G·Sq, S]. A row with no visible key gets p = 0.
    const widths = keyPos.map((p) => p.length);
    const probs = tf.tidy(() => {
      const full = tf.concat(scores, 2);
      const m = tf.max(full, 2, true);
      const mSafe = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
      const e = tf.exp(tf.sub(full, mSafe));
      const z = tf.sum(e, 2, true);
      const p = tf.div(e, tf.where(tf.greater(z, 0), z, tf.onesLike(z)));
      return tf.split(p, widths, 2) as tf.Tensor3D[];
    });
    tf.dispose(scores);

    // 3. Values circulate: out = Σ_src p[src]·v_src.
    let outG: tf.Tensor3D | null = null;
    await new RingComm(ctx.transport, `${ctx.tag}.rsa.v`, PHASE.fwd, layer).circulate({ v: await toWire(shard.v) }, (block, src, hop) => {
      const t0 = spanStart();
      const v = fromWire3d(block.v);
      outG = accumulate(outG, tf.matMul(probs[src], v));
      v.dispose();
      spanEnd(SPAN.attention, t0, PHASE.fwd, layer, hop, src);
    });
    const out = tf.tidy(() => outG!.reshape([H, Sq, D]) as tf.Tensor3D);
    qg.dispose();
    const saved: RsaSaved = { shard, probs, keyPos, outG: outG!, dispose: () => tf.dispose([...probs, outG!]) };
    return { out, saved };
  }

  async backward(ctx: AttentionContext, savedAny: Saved, dout: tf.Tensor3D): Promise<ShardGrads> {
    const saved = savedAny as RsaSaved;
    const { problem } = ctx;
    const { shard, probs } = saved;
    const [H, Sq, D] = shard.q.shape;
    const Hkv = problem.kvHeads;
    const qg = shard.q.reshape([Hkv, (H / Hkv) * Sq, D]) as tf.Tensor3D;
    const dO = dout.reshape([Hkv, (H / Hkv) * Sq, D]) as tf.Tensor3D;
    const rowDot = tf.sum(tf.mul(dO, saved.outG), 2, true); // D = rowsum(dO ∘ O)

    // K and V circulate again with their dK/dV accumulators, using the stored probabilities.
    let dqG: tf.Tensor3D | null = null;
    const layer = ctx.layer ?? -1;
    const grads = await new RingComm(ctx.transport, `${ctx.tag}.rsa.bwd`, PHASE.bwd, layer).circulateWithGrads(
      { k: await toWire(shard.k), v: await toWire(shard.v) },
      async (block, src, hop) => {
        const t0 = spanStart();
        const k = fromWire3d(block.k);
        const v = fromWire3d(block.v);
        const p = probs[src];
        const [dS, dv] = tf.tidy(() => {
          const dP = tf.matMul(dO, v, false, true); // [Hkv, G·Sq, Sk]
          return [tf.mul(p, tf.sub(dP, rowDot)), tf.matMul(p, dO, true, false)];
        });
        dqG = accumulate(dqG, tf.tidy(() => tf.mul(tf.matMul(dS, k), problem.scale) as tf.Tensor3D));
        const dk = tf.tidy(() => tf.mul(tf.matMul(dS, qg, true, false), problem.scale));
        const mine: WireBlock = { k: await toWire(dk), v: await toWire(dv) };
        tf.dispose([k, v, dS, dv, dk]);
        spanEnd(SPAN.attention, t0, PHASE.bwd, layer, hop, src);
        return mine;
      },
    );
    const dq = tf.tidy(() => dqG!.reshape([H, Sq, D]) as tf.Tensor3D);
    tf.dispose([qg, dO, rowDot, dqG!]);
    saved.dispose();
    return { dq, dk: fromWire3d(grads.k), dv: fromWire3d(grads.v) };
  }
}

interface RsaSaved extends Saved {
  shard: ShardInputs;
  probs: tf.Tensor3D[]; // per source rank: [Hkv, G·Sq, Sk_src]
  keyPos: Int32Array[];
  outG: tf.Tensor3D; // [Hkv, G·Sq, D]
}

/**
 * 0 where the query sees the key (causal: key ≤ query position; documents: the same document),
 * -inf elsewhere, tiled over the G query heads of a group: [G·Sq, Sk].
 */
function maskBias(posQ: Int32Array, posK: Int32Array, causal: boolean, groups: number, docQ?: Int32Array, docK?: Int32Array): tf.Tensor2D {
  const Sq = posQ.length;
  const Sk = posK.length;
  const bias = new Float32Array(groups * Sq * Sk);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < Sq; i++) {
      const row = (g * Sq + i) * Sk;
      for (let j = 0; j < Sk; j++) {
        const hidden = (causal && posK[j] > posQ[i]) || (docQ !== undefined && docK !== undefined && docQ[i] !== docK[j]);
        if (hidden) bias[row + j] = -Infinity;
      }
    }
  }
  return tf.tensor2d(bias, [groups * Sq, Sk]);
}

export const rsaStrategy: Strategy = new RingSelfAttention();
