import { RingtrainError } from '@ringtrain/core';
import { cloneTensor } from '@ringtrain/protocol';
import { Mailbox } from './mailbox';
import type { PeerMessage, Transport, TransportStats } from './transport';

/**
 * A world of P transports in one process, for unit tests of distributed code. Tensor data is
 * copied on send, as it would be on a wire, so a sender mutating its buffer cannot alias.
 */
export function createInMemoryWorld(worldSize: number): Transport[] {
  const boxes: Mailbox[][] = Array.from({ length: worldSize }, () => Array.from({ length: worldSize }, () => new Mailbox()));
  return Array.from({ length: worldSize }, (_, rank) => new InMemoryTransport(rank, worldSize, boxes));
}

class InMemoryTransport implements Transport {
  private readonly counters: TransportStats = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 };
  private closed = false;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    /** boxes[receiver][sender] */
    private readonly boxes: Mailbox[][],
  ) {}

  async send(to: number, msg: PeerMessage): Promise<void> {
    this.checkPeer(to);
    if (this.closed) throw new RingtrainError('TRANSPORT_CLOSED', `rank ${this.rank} sent after close`);
    const copy: PeerMessage = { tag: msg.tag, tensors: {}, meta: msg.meta ? { ...msg.meta } : undefined };
    let bytes = 0;
    for (const [name, t] of Object.entries(msg.tensors)) {
      copy.tensors[name] = cloneTensor(t);
      bytes += t.data.byteLength;
    }
    this.counters.bytesSent += bytes;
    this.counters.messagesSent++;
    // Deliver asynchronously so a send never runs the receiver's continuation inline.
    await Promise.resolve();
    this.boxes[to][this.rank].deliver(copy);
  }

  async recv(from: number, tag: string): Promise<PeerMessage> {
    this.checkPeer(from);
    const msg = await this.boxes[this.rank][from].take(tag);
    this.counters.messagesReceived++;
    for (const t of Object.values(msg.tensors)) this.counters.bytesReceived += t.data.byteLength;
    return msg;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkPeer(peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.worldSize || peer === this.rank) {
      throw new RingtrainError('BAD_PEER', `rank ${this.rank} addressed peer ${peer} in a world of ${this.worldSize}`);
    }
  }
}

