import { RingtrainError } from '@ringtrain/core';
import type { PeerMessage } from './transport';

/**
 * Per-peer, per-tag FIFO that matches arriving messages with waiting receivers. Shared by every
 * Transport implementation. The number of undelivered messages is bounded: a peer that floods
 * us is an error, not unbounded memory. Their bytes are bounded by whoever delivers them: a
 * message may come with a `release` that the mailbox calls once the message leaves it (taken,
 * refused or dropped), which lets a WebSocket link count it against its maxQueuedBytes.
 */
export class Mailbox {
  private readonly queued = new Map<string, Array<{ msg: PeerMessage; release?: () => void }>>();
  private readonly waiting = new Map<string, Array<{ resolve: (m: PeerMessage) => void; reject: (e: Error) => void }>>();
  private pending = 0;
  private failure: Error | null = null;

  constructor(private readonly maxPending: number = 1024) {}

  /** Hands `msg` to a waiting receiver or queues it; from this call on the mailbox owns `release`. */
  deliver(msg: PeerMessage, release?: () => void): void {
    if (this.failure) {
      release?.();
      return;
    }
    const waiters = this.waiting.get(msg.tag);
    if (waiters && waiters.length > 0) {
      const w = waiters.shift()!;
      if (waiters.length === 0) this.waiting.delete(msg.tag);
      release?.();
      w.resolve(msg);
      return;
    }
    if (this.pending >= this.maxPending) {
      release?.();
      throw new RingtrainError('MAILBOX_FULL', `more than ${this.maxPending} undelivered messages from one peer`, {
        hint: 'the peer sends faster than this rank receives; this is a protocol bug or a misbehaving peer',
      });
    }
    const entry = { msg, release };
    const q = this.queued.get(msg.tag);
    if (q) q.push(entry);
    else this.queued.set(msg.tag, [entry]);
    this.pending++;
  }

  take(tag: string): Promise<PeerMessage> {
    if (this.failure) return Promise.reject(this.failure);
    const q = this.queued.get(tag);
    if (q && q.length > 0) {
      const { msg, release } = q.shift()!;
      if (q.length === 0) this.queued.delete(tag);
      this.pending--;
      release?.();
      return Promise.resolve(msg);
    }
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(tag);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(tag, [{ resolve, reject }]);
    });
  }

  /** Rejects every current and future receive (peer died or transport closed). */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const list of this.waiting.values()) for (const w of list) w.reject(err);
    this.waiting.clear();
    for (const list of this.queued.values()) for (const { release } of list) release?.();
    this.queued.clear();
    this.pending = 0;
  }
}
