import { PHASE, SPAN, type PhaseCode } from '@ringtrain/protocol';
import type { PeerMessage, Transport } from '@ringtrain/transport';
import { traceTransfer } from '../trace/tracer';
import { peerRank } from './axis-transport';
import { awaitExposed } from './comm-timer';
import { addInto, type WireBlock } from './wire';

/**
 * The ring's communication, written once. Every rank passes blocks to rank+1 and receives from
 * rank-1. The transfer of the next block is started before the compute on the current one and
 * awaited after it, so the wire works while the kernel does — provided `visit` computes off the
 * JS thread (an async kernel): frames move only while the event loop runs. A block handed to
 * send is written to the socket from its own memory: nothing here changes a block once it is
 * sent, and every send is awaited before a circulation returns.
 */
export class RingComm {
  readonly next: number;
  readonly prev: number;
  private used = false;

  constructor(
    private readonly transport: Transport,
    /** Unique per call: transfers of different calls never mix. */
    private readonly tag: string,
    /** What a traced step's spans say this circulation serves (tracer.ts); -1: none. */
    private readonly phase: PhaseCode = PHASE.none,
    private readonly layer = -1,
  ) {
    const { rank, worldSize } = transport;
    this.next = (rank + 1) % worldSize;
    this.prev = (rank - 1 + worldSize) % worldSize;
  }

  get rank(): number {
    return this.transport.rank;
  }

  get worldSize(): number {
    return this.transport.worldSize;
  }

  /** The rank whose block this rank holds at ring step t. */
  sourceAt(step: number): number {
    return (this.rank - step + this.worldSize * 2) % this.worldSize;
  }

  /** The world's rank of ring rank i (they differ on an axis of a hybrid, axis-transport.ts): what `visit` and traces are told. */
  private world(i: number): number {
    return peerRank(this.transport, i);
  }

  /**
   * Forward circulation: every rank visits every rank's block once, its own first.
   * P steps, P-1 transfers per rank. `visit` is told the world's rank whose block it holds
   * (on a hybrid's ring axis, not the axis rank).
   */
  async circulate(own: WireBlock, visit: (block: WireBlock, source: number, step: number) => void | Promise<void>): Promise<void> {
    this.claim();
    const P = this.worldSize;
    let block = own;
    let held: PeerMessage | null = null; // the received message `block` lives in
    for (let t = 0; t < P; t++) {
      const last = t === P - 1;
      const tag = `${this.tag}.${t}`;
      const transfer = last ? null : inFlight(Promise.all([this.sendKv(tag, block, t), this.recvKv(tag, t)]));
      await visit(block, this.world(this.sourceAt(t)), t);
      if (transfer) {
        const [, msg] = await awaitExposed(transfer, this.phase, this.layer, t, this.world(this.prev));
        held?.recycle?.(); // visited and sent on: nothing reads it any more
        held = msg;
        block = msg.tensors;
      }
    }
    held?.recycle?.();
  }

  /**
   * Backward circulation: blocks travel as in `circulate`, and behind each block travels an
   * accumulator of the gradients the ranks that visited it computed (`visit` returns this rank's
   * share). A rank keeps the share for its own block (step 0) at home; the accumulator of every
   * block starts at the first other rank to visit it and reaches its owner after P-1 hops, where
   * the owner adds its own share and this returns the sum.
   *
   * Nothing of a hop waits in front of the next step's compute: once step t's share is ready,
   * a hop (await the accumulator rank-1 sent at step t-1, add the share, send the sum on) runs
   * while step t+1 computes, and is awaited after that compute, one step later. Only the last hop
   * (home) has no compute left to hide behind.
   */
  async circulateWithGrads(own: WireBlock, visit: (block: WireBlock, source: number, step: number) => WireBlock | Promise<WireBlock>): Promise<WireBlock> {
    this.claim();
    const P = this.worldSize;
    let block = own;
    let ownShare: WireBlock | null = null;
    let hop: Promise<void> | null = null; // the previous step's accumulator hop, awaited one step later
    let held: PeerMessage | null = null; // the received message `block` lives in
    for (let t = 0; t < P; t++) {
      const kvTag = `${this.tag}.kv.${t}`;
      const transfer = t === P - 1 ? null : inFlight(Promise.all([this.sendKv(kvTag, block, t), this.recvKv(kvTag, t)]));
      // The accumulator of the block visited now, from rank-1, which visited it at step t-1.
      const incoming = t >= 2 ? inFlight(this.recvGrads(this.gradTag(t - 1), t - 1)) : null;
      const mine = await visit(block, this.world(this.sourceAt(t)), t);
      if (hop) await awaitExposed(hop, this.phase, this.layer, t - 1, this.world(this.prev));
      if (t === 0) ownShare = mine;
      else hop = inFlight(this.forwardGrads(t, mine, incoming));
      if (transfer) {
        const [, msg] = await awaitExposed(transfer, this.phase, this.layer, t, this.world(this.prev));
        held?.recycle?.(); // visited (its share computed into new memory) and sent on
        held = msg;
        block = msg.tensors;
      }
    }
    held?.recycle?.();
    if (P === 1) return ownShare!;
    const [back] = await awaitExposed(Promise.all([this.recvGrads(this.gradTag(P - 1), P - 1), hop]), this.phase, this.layer, P - 1, this.world(this.prev));
    const total = back.tensors;
    addInto(total, ownShare!);
    return total;
  }

  private gradTag(step: number): string {
    return `${this.tag}.grad.${step}`;
  }

  /**
   * One accumulator hop of ring step t: this rank's share plus the accumulator from rank-1 (none
   * at step 1, the block's first visit away from home), sent on to rank+1.
   */
  private async forwardGrads(t: number, mine: WireBlock, incoming: Promise<PeerMessage> | null): Promise<void> {
    let acc = mine;
    if (incoming) {
      acc = (await incoming).tensors;
      addInto(acc, mine); // received accumulators are ours to mutate; `mine` is never mutated
    }
    await traceTransfer(this.transport.send(this.next, { tag: this.gradTag(t), tensors: acc }), SPAN.sendDkv, this.phase, this.layer, t, this.world(this.next));
  }

  /** The K/V block of ring step `hop` to rank+1 (a `send kv` span on a traced step). */
  private sendKv(tag: string, block: WireBlock, hop: number): Promise<void> {
    return traceTransfer(this.transport.send(this.next, { tag, tensors: block }), SPAN.sendKv, this.phase, this.layer, hop, this.world(this.next));
  }

  private recvKv(tag: string, hop: number) {
    return traceTransfer(this.transport.recv(this.prev, tag), SPAN.recvKv, this.phase, this.layer, hop, this.world(this.prev));
  }

  /** The dK/dV accumulator rank-1 sent at its ring step `hop`. */
  private recvGrads(tag: string, hop: number) {
    return traceTransfer(this.transport.recv(this.prev, tag), SPAN.recvDkv, this.phase, this.layer, hop, this.world(this.prev));
  }

  /** One RingComm serves one circulation; reusing it would reuse its tags. */
  private claim(): void {
    if (this.used) throw new Error(`RingComm "${this.tag}" was already used; create one per circulation`);
    this.used = true;
  }
}

/**
 * A transfer that runs while this rank computes: a failure surfaces where it is awaited, not as
 * an unhandled rejection while the compute is still being awaited.
 */
function inFlight<T>(transfer: Promise<T>): Promise<T> {
  transfer.catch(() => undefined);
  return transfer;
}
