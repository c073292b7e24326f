import type { PeerMessage, Transport } from '@ringtrain/transport';
import { awaitExposed } from './comm-timer';
import { addInto, type WireBlock } from './wire';

/**
 * The ring's communication, written once. Every rank passes blocks to rank+1 and receives from
 * rank-1. The transfer of the next block is started before the compute on the current one and
 * awaited after it, so the wire works while the kernel does — provided `visit` computes off the
 * JS thread (an async kernel): frames move only while the event loop runs.
 */
export class RingComm {
  readonly next: number;
  readonly prev: number;
  private used = false;

  constructor(
    private readonly transport: Transport,
    /** Unique per call: transfers of different calls never mix. */
    private readonly tag: string,
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

  /**
   * Forward circulation: every rank visits every rank's block once, its own first.
   * P steps, P-1 transfers per rank.
   */
  async circulate(own: WireBlock, visit: (block: WireBlock, source: number, step: number) => void | Promise<void>): Promise<void> {
    this.claim();
    const P = this.worldSize;
    let block = own;
    for (let t = 0; t < P; t++) {
      const last = t === P - 1;
      const tag = `${this.tag}.${t}`;
      const transfer = last ? null : inFlight(Promise.all([this.transport.send(this.next, { tag, tensors: block }), this.transport.recv(this.prev, tag)]));
      await visit(block, this.sourceAt(t), t);
      if (transfer) {
        const [, msg] = await awaitExposed(transfer);
        block = msg.tensors;
      }
    }
  }

  /**
   * Backward circulation: blocks travel as in `circulate`, and with each block travels an
   * accumulator of the gradients every visited rank computed for it (`visit` returns this rank's
   * share). After P hops the accumulator is back at the block's owner, which this returns.
   */
  async circulateWithGrads(own: WireBlock, visit: (block: WireBlock, source: number, step: number) => WireBlock | Promise<WireBlock>): Promise<WireBlock> {
    this.claim();
    const P = this.worldSize;
    let block = own;
    let acc: WireBlock | null = null;
    for (let t = 0; t < P; t++) {
      const last = t === P - 1;
      const kvTag = `${this.tag}.kv.${t}`;
      const gradTag = `${this.tag}.grad.${t}`;
      const transfer = last ? null : inFlight(Promise.all([this.transport.send(this.next, { tag: kvTag, tensors: block }), this.transport.recv(this.prev, kvTag)]));
      const mine = await visit(block, this.sourceAt(t), t);
      if (acc) addInto(acc, mine);
      else acc = mine; // only received accumulators are mutated (addInto), never `mine`
      if (P === 1) return acc;
      const [kv, [, accMsg]]: [[void, PeerMessage] | null, [void, PeerMessage]] = await awaitExposed(Promise.all([
        transfer,
        Promise.all([this.transport.send(this.next, { tag: gradTag, tensors: acc }), this.transport.recv(this.prev, gradTag)]),
      ]));
      if (kv) block = kv[1].tensors;
      acc = accMsg.tensors;
    }
    return acc!;
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
