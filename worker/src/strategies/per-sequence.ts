import * as tf from '@tensorflow/tfjs';
import { makeProblem } from '../attention/problem';
import type { AttentionContext, Saved, ShardGrads, ShardInputs, Strategy } from './types';

/**
 * A strategy run once per sequence of the batch. The model folds the batch into heads
 * ([B·H, Sr, D]) so one strategy call serves the whole batch; with document masking each sequence
 * has its own documents, and a kernel takes one document id per position, so the batch is
 * unfolded: sequence b's heads [b·H, (b+1)·H) attend with its own document ids, under a tag of
 * their own. Sequences without documents never come here (one call, as before).
 */
export function perSequence(inner: Strategy, docs: readonly Int32Array[], heads: number, kvHeads: number): Strategy {
  const B = docs.length;
  const rowCtx = (ctx: AttentionContext, b: number): AttentionContext => ({
    ...ctx,
    problem: makeProblem({ ...ctx.problem, heads, kvHeads }),
    tag: `${ctx.tag}.b${b}`,
  });
  const part = (t: tf.Tensor3D, b: number, n: number) => t.slice([b * n, 0, 0], [n, -1, -1]) as tf.Tensor3D;
  return {
    name: inner.name,
    layout: inner.layout,
    checkProblem: (problem, worldSize) => inner.checkProblem(makeProblem({ ...problem, heads, kvHeads }), worldSize),
    async forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }> {
      const outs: tf.Tensor3D[] = [];
      const saved: Saved[] = [];
      const inputs: tf.Tensor3D[] = [];
      for (let b = 0; b < B; b++) {
        const row = { q: part(shard.q, b, heads), k: part(shard.k, b, kvHeads), v: part(shard.v, b, kvHeads), pos: shard.pos, doc: docs[b] };
        inputs.push(row.q, row.k, row.v);
        const r = await inner.forward(rowCtx(ctx, b), row);
        outs.push(r.out);
        saved.push(r.saved);
      }
      const out = tf.concat(outs, 0) as tf.Tensor3D;
      tf.dispose(outs);
      // The strategies keep their inputs until backward; so do we.
      return { out, saved: { dispose: () => tf.dispose(inputs), rows: saved } as Saved & { rows: Saved[] } };
    },
    async backward(ctx: AttentionContext, savedAny: Saved, dout: tf.Tensor3D): Promise<ShardGrads> {
      const { rows } = savedAny as Saved & { rows: Saved[] };
      const grads: ShardGrads[] = [];
      for (let b = 0; b < B; b++) {
        const d = part(dout, b, heads);
        grads.push(await inner.backward(rowCtx(ctx, b), rows[b], d));
        d.dispose();
      }
      savedAny.dispose();
      const join = (pick: (g: ShardGrads) => tf.Tensor3D) => tf.concat(grads.map(pick), 0) as tf.Tensor3D;
      const out = { dq: join((g) => g.dq), dk: join((g) => g.dk), dv: join((g) => g.dv) };
      grads.forEach((g) => tf.dispose([g.dq, g.dk, g.dv]));
      return out;
    },
  };
}

/** Sequence b's document ids [Sr] out of a shard's [B·Sr]. */
export function docsPerSequence(docs: Int32Array, batch: number): Int32Array[] {
  const n = docs.length / batch;
  return Array.from({ length: batch }, (_, b) => docs.subarray(b * n, (b + 1) * n));
}
