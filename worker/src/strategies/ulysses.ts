import { STRATEGY_LAYOUTS, checkUlyssesHeads } from '@ringtrain/config';
import * as tf from '@tensorflow/tfjs';
import { PHASE, SPAN } from '@ringtrain/protocol';
import { mergeInto, type BlockForward } from '@ringtrain/kernels';
import type { AttentionProblem } from '../attention/problem';
import { allToAll } from '../comm/all-to-all';
import { spanEnd, spanStart } from '../trace/tracer';
import { docsOf, docsWire, fromWire3d, positionsOf, positionsWire, toWire, zerosWire, type WireBlock } from '../comm/wire';
import { accumulate, blockFullyMasked, emptyPartial } from './blocks';
import { addRows, kvRange, sliceHeads } from './head-split';
import type { AttentionContext, Saved, ShardGrads, ShardInputs, Strategy } from './types';

/**
 * DeepSpeed-Ulysses sequence parallelism: an all-to-all turns sequence shards into head shards
 * (rank j gets query heads [j·H/P, (j+1)·H/P) for the whole sequence), attention runs locally,
 * blockwise over the P source chunks so memory stays O(S/P · S/P) per block, and a second
 * all-to-all turns head shards back into sequence shards.
 *
 * GQA: rank j receives only the K/V heads its query heads use (kvRange). When there are fewer
 * K/V heads than ranks, a K/V head goes to several ranks, and their dK/dV are summed on return.
 */
class Ulysses implements Strategy {
  readonly name = 'ulysses' as const;
  readonly layout = STRATEGY_LAYOUTS.ulysses;

  checkProblem(p: AttentionProblem, worldSize: number): void {
    checkUlyssesHeads(p.heads, p.kvHeads, worldSize);
  }

  async forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }> {
    const { transport, kernel, problem } = ctx;
    const P = transport.worldSize;
    this.checkProblem(problem, P);
    const hp = problem.heads / P;
    const layer = ctx.layer ?? -1;
    const parts: WireBlock[] = [];
    for (let j = 0; j < P; j++) {
      const [lo, hi] = kvRange(problem, P, j);
      parts.push({
        q: await sliceHeads(shard.q, j * hp, hp),
        k: await sliceHeads(shard.k, lo, hi - lo),
        v: await sliceHeads(shard.v, lo, hi - lo),
        pos: positionsWire(shard.pos),
        ...docsWire(shard.doc),
      });
    }
    const chunks = (await allToAll(transport, `${ctx.tag}.uly.in`, parts, PHASE.fwd, layer)).map(toChunk);

    // Full-sequence attention for this rank's heads, one query chunk at a time.
    const outs: BlockForward[] = chunks.map((qc) => {
      let acc: BlockForward | null = null;
      for (const [source, kc] of chunks.entries()) {
        if (blockFullyMasked(problem.causal, qc.pos, kc.pos, qc.doc, kc.doc)) continue;
        const t0 = spanStart();
        const part = kernel.forward({ q: qc.q, k: kc.k, v: kc.v, posQ: qc.pos, posK: kc.pos, docQ: qc.doc, docK: kc.doc, causal: problem.causal, scale: problem.scale });
        spanEnd(SPAN.attention, t0, PHASE.fwd, layer, -1, source);
        acc = mergeInto(acc, part);
      }
      return acc ?? emptyPartial(hp, qc.pos.length, problem.headDim);
    });

    const back = await allToAll(transport, `${ctx.tag}.uly.out`, await Promise.all(outs.map(async (o) => ({ out: await toWire(o.out) }))), PHASE.fwd, layer);
    const out = tf.tidy(() => tf.concat(back.map((b) => fromWire3d(b.out)), 0) as tf.Tensor3D);
    const saved: UlyssesSaved = {
      chunks,
      outs,
      dispose: () => {
        for (const c of chunks) tf.dispose([c.q, c.k, c.v]);
        for (const o of outs) tf.dispose([o.out, o.lse]);
      },
    };
    return { out, saved };
  }

  async backward(ctx: AttentionContext, savedAny: Saved, dout: tf.Tensor3D): Promise<ShardGrads> {
    const saved = savedAny as UlyssesSaved;
    const { transport, kernel, problem } = ctx;
    const P = transport.worldSize;
    const hp = problem.heads / P;
    const layer = ctx.layer ?? -1;
    const doutParts: WireBlock[] = [];
    for (let j = 0; j < P; j++) doutParts.push({ dout: await sliceHeads(dout, j * hp, hp) });
    const douts = (await allToAll(transport, `${ctx.tag}.uly.dout`, doutParts, PHASE.bwd, layer)).map((b) => fromWire3d(b.dout));

    const { chunks, outs } = saved;
    const dq: Array<tf.Tensor3D | null> = chunks.map(() => null);
    const dk: Array<tf.Tensor3D | null> = chunks.map(() => null);
    const dv: Array<tf.Tensor3D | null> = chunks.map(() => null);
    chunks.forEach((qc, s) => {
      chunks.forEach((kc, t) => {
        if (blockFullyMasked(problem.causal, qc.pos, kc.pos, qc.doc, kc.doc)) return;
        const t0 = spanStart();
        const g = kernel.backward({
          q: qc.q, k: kc.k, v: kc.v, posQ: qc.pos, posK: kc.pos, docQ: qc.doc, docK: kc.doc, causal: problem.causal, scale: problem.scale,
          dout: douts[s], out: outs[s].out, lse: outs[s].lse,
        });
        spanEnd(SPAN.attention, t0, PHASE.bwd, layer, -1, t);
        dq[s] = accumulate(dq[s], g.dq);
        dk[t] = accumulate(dk[t], g.dk);
        dv[t] = accumulate(dv[t], g.dv);
      });
    });
    const orZeros = async (t: tf.Tensor3D | null, shape: readonly number[]) => (t ? toWire(t) : zerosWire(shape));
    const gradParts: WireBlock[] = await Promise.all(
      chunks.map(async (c, s) => ({ dq: await orZeros(dq[s], c.q.shape), dk: await orZeros(dk[s], c.k.shape), dv: await orZeros(dv[s], c.v.shape) })),
    );
    tf.dispose([...douts, ...[...dq, ...dk, ...dv].filter((t): t is tf.Tensor3D => t !== null)]);
    saved.dispose();

    const back = await allToAll(transport, `${ctx.tag}.uly.grad`, gradParts, PHASE.bwd, layer);
    const mySeq = back[0].dq.shape[1];
    const dkSum = new Float32Array(problem.kvHeads * mySeq * problem.headDim);
    const dvSum = new Float32Array(dkSum.length);
    back.forEach((b, j) => {
      // K/V heads [lo, hi) went to rank j; several ranks may return grads for one head: sum them.
      const [lo] = kvRange(problem, P, j);
      addRows(dkSum, b.dk.data as Float32Array, lo * mySeq * problem.headDim);
      addRows(dvSum, b.dv.data as Float32Array, lo * mySeq * problem.headDim);
    });
    const shape: [number, number, number] = [problem.kvHeads, mySeq, problem.headDim];
    return {
      dq: tf.tidy(() => tf.concat(back.map((b) => fromWire3d(b.dq)), 0) as tf.Tensor3D),
      dk: tf.tensor3d(dkSum, shape),
      dv: tf.tensor3d(dvSum, shape),
    };
  }
}

interface Chunk {
  q: tf.Tensor3D; // [H/P, S_s, D]
  k: tf.Tensor3D; // [kvHeads of this rank, S_s, D]
  v: tf.Tensor3D;
  pos: Int32Array;
  doc?: Int32Array;
}

interface UlyssesSaved extends Saved {
  chunks: Chunk[];
  outs: BlockForward[];
}

function toChunk(b: WireBlock): Chunk {
  return { q: fromWire3d(b.q), k: fromWire3d(b.k), v: fromWire3d(b.v), pos: positionsOf(b.pos), doc: docsOf(b) };
}

export const ulyssesStrategy: Strategy = new Ulysses();
