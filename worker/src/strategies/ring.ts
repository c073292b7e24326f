import { STRATEGY_LAYOUTS } from '@ringtrain/config';
import * as tf from '@tensorflow/tfjs';
import { backwardAsync, forwardAsync, mergeInto, type BlockForward } from '@ringtrain/kernels';
import type { LayoutName } from '@ringtrain/layout';
import { PHASE, SPAN } from '@ringtrain/protocol';
import type { AttentionProblem } from '../attention/problem';
import { RingComm } from '../comm/ring-comm';
import { spanEnd, spanStart } from '../trace/tracer';
import { addInto, copyBlock, docsOf, docsWire, fromWire3d, positionsOf, positionsWire, toWire, zerosWire, type WireBlock } from '../comm/wire';
import { blockFullyMasked, emptyPartial } from './blocks';
import type { AttentionContext, Saved, ShardGrads, ShardInputs, Strategy, StrategyName } from './types';

/**
 * Ring attention and its load-balanced variants. They differ only in layout (which positions a
 * rank owns); the kernel masks from positions, so one circulation serves all three:
 * - ring: contiguous shards; causal work is lopsided (the last rank works every step).
 * - striped: rank r owns r, r+P, ...; every block is about half masked.
 * - zigzag: rank r owns chunks r and 2P-1-r of 2P.
 */
class RingFamily implements Strategy {
  constructor(
    readonly name: StrategyName,
    readonly layout: LayoutName,
  ) {}

  checkProblem(_problem: AttentionProblem, _worldSize: number): void {
    // Any head count and any (uneven) shard sizes work: blocks carry their own shapes.
  }

  async forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }> {
    const { kernel, problem } = ctx;
    const layer = ctx.layer ?? -1;
    const ring = new RingComm(ctx.transport, `${ctx.tag}.ring.fwd`, PHASE.fwd, layer);
    let acc: BlockForward | null = null;
    await ring.circulate(await kvBlock(shard), async (block, source, hop) => {
      const posK = positionsOf(block.pos);
      const docK = docsOf(block);
      if (blockFullyMasked(problem.causal, shard.pos, posK, shard.doc, docK)) return;
      const k = fromWire3d(block.k);
      const v = fromWire3d(block.v);
      const t0 = spanStart();
      const part = await forwardAsync(kernel, { q: shard.q, k, v, posQ: shard.pos, posK, docQ: shard.doc, docK, causal: problem.causal, scale: problem.scale });
      spanEnd(SPAN.attention, t0, PHASE.fwd, layer, hop, source);
      tf.dispose([k, v]);
      acc = mergeInto(acc, part);
    });
    const result: BlockForward = acc ?? emptyPartial(problem.heads, shard.pos.length, problem.headDim);
    const saved: RingSaved = { shard, out: result.out, lse: result.lse, dispose: () => tf.dispose([result.out, result.lse]) };
    return { out: tf.clone(result.out), saved };
  }

  async backward(ctx: AttentionContext, savedAny: Saved, dout: tf.Tensor3D): Promise<ShardGrads> {
    const saved = savedAny as RingSaved;
    const { kernel, problem } = ctx;
    const { shard } = saved;
    const layer = ctx.layer ?? -1;
    const ring = new RingComm(ctx.transport, `${ctx.tag}.ring.bwd`, PHASE.bwd, layer);
    // dQ summed in place in JS (a tf.add allocated a new [H, Sq, D] tensor every step).
    let dq: WireBlock | null = null;
    const grads = await ring.circulateWithGrads(await kvBlock(shard), async (block, source, hop) => {
      const posK = positionsOf(block.pos);
      const docK = docsOf(block);
      const [hkv, sk, d] = block.k.shape;
      if (blockFullyMasked(problem.causal, shard.pos, posK, shard.doc, docK)) {
        return { k: zerosWire([hkv, sk, d]), v: zerosWire([hkv, sk, d]) };
      }
      const k = fromWire3d(block.k);
      const v = fromWire3d(block.v);
      const t0 = spanStart();
      const g = await backwardAsync(kernel, {
        q: shard.q, k, v, posQ: shard.pos, posK, docQ: shard.doc, docK, causal: problem.causal, scale: problem.scale,
        dout, out: saved.out, lse: saved.lse,
      });
      spanEnd(SPAN.attention, t0, PHASE.bwd, layer, hop, source);
      const dqShare = { dq: await toWire(g.dq) };
      if (dq) addInto(dq, dqShare);
      else dq = copyBlock(dqShare);
      const mine = { k: await toWire(g.dk), v: await toWire(g.dv) };
      tf.dispose([k, v, g.dq, g.dk, g.dv]);
      return mine;
    });
    saved.dispose();
    const dqSum = dq as WireBlock | null; // assigned in the visits (TypeScript does not follow the closure)
    return {
      dq: dqSum ? fromWire3d(dqSum.dq) : tf.zerosLike(shard.q),
      dk: fromWire3d(grads.k),
      dv: fromWire3d(grads.v),
    };
  }
}

interface RingSaved extends Saved {
  shard: ShardInputs;
  out: tf.Tensor3D;
  lse: tf.Tensor2D;
}

async function kvBlock(shard: ShardInputs): Promise<WireBlock> {
  return { k: await toWire(shard.k), v: await toWire(shard.v), pos: positionsWire(shard.pos), ...docsWire(shard.doc) };
}


export const ringStrategy: Strategy = new RingFamily('ring', STRATEGY_LAYOUTS.ring);
export const stripedStrategy: Strategy = new RingFamily('striped', STRATEGY_LAYOUTS.striped);
export const zigzagStrategy: Strategy = new RingFamily('zigzag', STRATEGY_LAYOUTS.zigzag);
