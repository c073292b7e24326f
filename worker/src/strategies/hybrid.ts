import { STRATEGY_LAYOUTS, checkHybridDegree, ulyssesSplitsHeads } from '@ringtrain/config';
import * as tf from '@tensorflow/tfjs';
import type { LayoutName } from '@ringtrain/layout';
import { PHASE } from '@ringtrain/protocol';
import type { Transport, WireTensor } from '@ringtrain/transport';
import { makeProblem, type AttentionProblem } from '../attention/problem';
import { allToAll } from '../comm/all-to-all';
import { AxisTransport } from '../comm/axis-transport';
import { docsOf, docsWire, fromWire3d, positionsOf, positionsWire, toWire, type WireBlock } from '../comm/wire';
import { kvRange, sliceHeads } from './head-split';
import { ringStrategy } from './ring';
import type { AttentionContext, Saved, ShardGrads, ShardInputs, Strategy } from './types';
import { ulyssesStrategy } from './ulysses';

/**
 * Hybrid (2D) sequence parallelism, as USP / LoongTrain: the P ranks form R = P/U groups of U
 * consecutive ranks, rank r = g·U + u (group g, member u).
 *
 *   1. Inside each group, Ulysses' all-to-all trades tokens for heads: member j receives query
 *      heads [j·H/U, (j+1)·H/U) of the whole group's tokens (its S/R positions, in member order,
 *      which the layout makes increasing) and the K/V heads those use (memberKvHeads: replicated
 *      where several members, or several query heads of one member, need one).
 *   2. Across groups, the ring (ring.ts, unchanged) runs among the R ranks with the same u, each
 *      holding H/U heads of its group's tokens: K/V circulate with their positions, so the ring
 *      layout the coordinator cut the groups by (ring, striped or zigzag) decides the masks.
 *   3. The inverse all-to-all returns each member's rows of the output, all heads again.
 *
 * Backward mirrors it: `dout` by heads into the group, the ring's backward (dK/dV accumulators
 * across groups), the gradients back by rows; a replicated K/V head's dK/dV are summed.
 *
 * Consecutive ranks form a group so the four bandwidth-hungry all-to-alls stay among neighbours
 * (on one host, when a launcher packs ranks per host) while the ring, whose transfers hide behind
 * compute, crosses groups. The two axes are sub-communicators of the world's mesh
 * (axis-transport.ts); their tags also differ (`<tag>.hyb.*@uly`, `<tag>.hyb.ring.*@ring`).
 * U = 1 is the ring and U = P is Ulysses: those run the ring and Ulysses themselves.
 */
class Hybrid implements Strategy {
  readonly name = 'hybrid' as const;

  constructor(
    /** U: ranks per group, over which heads are split. */
    readonly ulyssesDegree: number,
    /** The ring's layout over the groups (the coordinator cuts shards by it; this rank only sees positions). */
    readonly layout: LayoutName,
    /** Take the two-axis path even at U = 1 and U = P (tests of that path). */
    private readonly alwaysTwoAxes = false,
  ) {}

  checkProblem(p: AttentionProblem, worldSize: number): void {
    checkHybridDegree(this.ulyssesDegree, p.heads, worldSize);
  }

  /** The plain strategy this degree amounts to on this world, if any (Ulysses only where its own head rule holds). */
  private plain(p: AttentionProblem, worldSize: number): Strategy | null {
    if (this.alwaysTwoAxes) return null;
    if (this.ulyssesDegree === 1) return ringStrategy;
    return this.ulyssesDegree === worldSize && ulyssesSplitsHeads(p.heads, p.kvHeads, worldSize) ? ulyssesStrategy : null;
  }

  async forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }> {
    const { transport, problem } = ctx;
    this.checkProblem(problem, transport.worldSize);
    const plain = this.plain(problem, transport.worldSize);
    if (plain) return plain.forward(ctx, shard);
    const layer = ctx.layer ?? -1;
    const { group, ring } = axes(transport, this.ulyssesDegree);
    const U = group.worldSize;
    const h = problem.heads / U;

    // 1. Sequence shards -> head shards inside the group.
    const parts: WireBlock[] = [];
    for (let j = 0; j < U; j++) {
      const kv = memberKvHeads(problem, U, j);
      parts.push({
        q: await sliceHeads(shard.q, j * h, h),
        k: await pickHeads(shard.k, kv),
        v: await pickHeads(shard.v, kv),
        pos: positionsWire(shard.pos),
        ...docsWire(shard.doc),
      });
    }
    const pieces = await allToAll(group, `${ctx.tag}.hyb.in`, parts, PHASE.fwd, layer);
    const rows = pieces.map((b) => b.pos.shape[0]);
    const docs = pieces.map(docsOf);
    const joined: ShardInputs = {
      q: joinRows(pieces.map((b) => b.q)), // [H/U, S/R, D]
      k: joinRows(pieces.map((b) => b.k)), // [its K/V heads, S/R, D]
      v: joinRows(pieces.map((b) => b.v)),
      pos: joinInts(pieces.map((b) => positionsOf(b.pos))),
      doc: docs.every((d) => d !== undefined) ? joinInts(docs as Int32Array[]) : undefined,
    };

    // 2. The ring across groups, on this member's heads of the group's tokens.
    const ringCtx = this.ringContext(ctx, ring, joined);
    const { out: groupOut, saved: ringSaved } = await ringStrategy.forward(ringCtx, joined);

    // 3. Head shards -> sequence shards: each member's rows of this rank's heads go home.
    const outParts = await splitRows(groupOut, rows, 'out');
    groupOut.dispose();
    const back = await allToAll(group, `${ctx.tag}.hyb.out`, outParts, PHASE.fwd, layer);
    const out = tf.tidy(() => tf.concat(back.map((b) => fromWire3d(b.out)), 0) as tf.Tensor3D);
    const saved: HybridSaved = {
      joined,
      rows,
      ringCtx,
      ringSaved,
      dispose: () => {
        ringSaved.dispose();
        tf.dispose([joined.q, joined.k, joined.v]);
      },
    };
    return { out, saved };
  }

  async backward(ctx: AttentionContext, savedAny: Saved, dout: tf.Tensor3D): Promise<ShardGrads> {
    const { transport, problem } = ctx;
    const plain = this.plain(problem, transport.worldSize);
    if (plain) return plain.backward(ctx, savedAny, dout);
    const saved = savedAny as HybridSaved;
    const layer = ctx.layer ?? -1;
    const { group } = axes(transport, this.ulyssesDegree);
    const U = group.worldSize;
    const h = problem.heads / U;

    // dout by heads into the group, joined over the group's tokens as in forward.
    const doutParts: WireBlock[] = [];
    for (let j = 0; j < U; j++) doutParts.push({ dout: await sliceHeads(dout, j * h, h) });
    const douts = await allToAll(group, `${ctx.tag}.hyb.dout`, doutParts, PHASE.bwd, layer);
    const groupDout = joinRows(douts.map((b) => b.dout));

    // The ring's backward across groups; it disposes its own saved tensors.
    const g = await ringStrategy.backward(saved.ringCtx, saved.ringSaved, groupDout);
    groupDout.dispose();
    tf.dispose([saved.joined.q, saved.joined.k, saved.joined.v]);

    // Each member's rows of the gradients go home; dQ heads are concatenated, dK/dV summed per K/V head.
    const [dqParts, dkParts, dvParts] = await Promise.all([splitRows(g.dq, saved.rows, 'dq'), splitRows(g.dk, saved.rows, 'dk'), splitRows(g.dv, saved.rows, 'dv')]);
    tf.dispose([g.dq, g.dk, g.dv]);
    const back = await allToAll(group, `${ctx.tag}.hyb.grad`, dqParts.map((p, j) => ({ ...p, ...dkParts[j], ...dvParts[j] })), PHASE.bwd, layer);
    const mySeq = dout.shape[1];
    const stride = mySeq * problem.headDim;
    const dkSum = new Float32Array(problem.kvHeads * stride);
    const dvSum = new Float32Array(dkSum.length);
    back.forEach((b, j) => {
      // Member j's K/V head t is our head kv[t]; a head sent to several members (or twice to one) sums their grads.
      memberKvHeads(problem, U, j).forEach((head, t) => {
        addRange(dkSum, head * stride, b.dk.data as Float32Array, t * stride, stride);
        addRange(dvSum, head * stride, b.dv.data as Float32Array, t * stride, stride);
      });
    });
    const shape: [number, number, number] = [problem.kvHeads, mySeq, problem.headDim];
    return {
      dq: tf.tidy(() => tf.concat(back.map((b) => fromWire3d(b.dq)), 0) as tf.Tensor3D),
      dk: tf.tensor3d(dkSum, shape),
      dv: tf.tensor3d(dvSum, shape),
    };
  }

  /** The ring's view: the axis across groups, this member's heads, a tag of its own. */
  private ringContext(ctx: AttentionContext, ring: Transport, joined: ShardInputs): AttentionContext {
    const p = ctx.problem;
    const problem = makeProblem({ seqLen: p.seqLen, heads: joined.q.shape[0], kvHeads: joined.k.shape[0], headDim: p.headDim, causal: p.causal, scale: p.scale });
    return { ...ctx, transport: ring, problem, tag: `${ctx.tag}.hyb` };
  }
}

interface HybridSaved extends Saved {
  /** This member's heads of the group's tokens (the ring's shard). */
  joined: ShardInputs;
  /** Tokens of each member of the group, in member order. */
  rows: number[];
  ringCtx: AttentionContext;
  ringSaved: Saved;
}

/**
 * The K/V heads member j of a group of U receives, in its local order: the kernel pairs local
 * query head a with local K/V head ⌊a·n/h⌋ (h query heads, n K/V heads), so the list must make
 * that the global pairing (query head i uses K/V head ⌊i·Hkv/H⌋). Ulysses' kvRange does wherever
 * the member's query heads meet the K/V groups evenly (always under Ulysses' head rule: Hkv/U
 * whole heads, or one head replicated); otherwise each query head gets its own copy of its K/V
 * head (e.g. H 6, Hkv 3, U 2: member 0's heads 0, 1, 2 use K/V heads 0, 0, 1).
 */
export function memberKvHeads(p: AttentionProblem, U: number, j: number): number[] {
  const h = p.heads / U;
  const G = p.heads / p.kvHeads;
  const [lo, hi] = kvRange(p, U, j);
  const n = hi - lo;
  const wanted = Array.from({ length: h }, (_, a) => Math.floor((j * h + a) / G));
  const even = h % n === 0 && wanted.every((kv, a) => kv - lo === Math.floor(a / (h / n)));
  return even ? Array.from({ length: n }, (_, t) => lo + t) : wanted;
}

/** The listed heads of a head-major tensor, read out for the wire (a slice when they are consecutive). */
async function pickHeads(t: tf.Tensor3D, heads: readonly number[]): Promise<WireTensor> {
  if (heads.every((x, i) => x === heads[0] + i)) return sliceHeads(t, heads[0], heads.length);
  const part = tf.gather(t, Int32Array.from(heads), 0);
  const wire = await toWire(part);
  part.dispose();
  return wire;
}

function addRange(dst: Float32Array, at: number, src: Float32Array, from: number, count: number): void {
  for (let i = 0; i < count; i++) dst[at + i] += src[from + i];
}

/** This rank's two axes: its group (U consecutive ranks) and its ring (the ranks of the same u in every group). */
function axes(world: Transport, U: number): { group: AxisTransport; ring: AxisTransport } {
  const R = world.worldSize / U;
  const g = Math.floor(world.rank / U);
  const u = world.rank % U;
  return {
    group: new AxisTransport(world, Array.from({ length: U }, (_, i) => g * U + i), 'uly'),
    ring: new AxisTransport(world, Array.from({ length: R }, (_, i) => i * U + u), 'ring'),
  };
}

/** [h, S_0, D], [h, S_1, D], … (the members' rows in member order) -> [h, ΣS, D]. */
function joinRows(parts: readonly WireTensor[]): tf.Tensor3D {
  return tf.tidy(() => tf.concat(parts.map(fromWire3d), 1) as tf.Tensor3D);
}

function joinInts(parts: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** [h, ΣS, D] -> one wire block per member, `{ [name]: its [h, S_j, D] rows }`. */
async function splitRows(t: tf.Tensor3D, rows: readonly number[], name: string): Promise<WireBlock[]> {
  const pieces = tf.split(t, [...rows], 1);
  const wires = await Promise.all(pieces.map(async (p) => ({ [name]: await toWire(p) })));
  tf.dispose(pieces);
  return wires;
}

/** The hybrid of Ulysses degree U whose ring runs in `ringLayout` across the groups. */
export function hybridStrategy(ulyssesDegree: number, ringLayout: LayoutName = STRATEGY_LAYOUTS.hybrid, opts: { alwaysTwoAxes?: boolean } = {}): Strategy {
  return new Hybrid(ulyssesDegree, ringLayout, opts.alwaysTwoAxes ?? false);
}
