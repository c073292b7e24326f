import { RingtrainError } from '@ringtrain/core';
import type { PeerMessage } from './transport';

/**
 * Per-peer, per-tag FIFO that matches arriving messages with waiting receivers. Shared by every
 * Transport implementation. The number of undelivered messages is bounded: a peer that floods
 * us is an error, not unbounded memory.
 */
export class Mailbox {
  private readonly queued = new Map<string, PeerMessage[]>();
  private readonly waiting = new Map<string, Array<{ resolve: (m: PeerMessage) => void; reject: (e: Error) => void }>>();
  private pending = 0;
  private failure: Error | null = null;

  constructor(private readonly maxPending: number = 1024) {}

  deliver(msg: PeerMessage): void {
    if (this.failure) return;
    const waiters = this.waiting.get(msg.tag);
    if (waiters && waiters.length > 0) {
      const w = waiters.shift()!;
      if (waiters.length === 0) this.waiting.delete(msg.tag);
      w.resolve(msg);
      return;
    }
    if (this.pending >= this.maxPending) {
      throw new RingtrainError('MAILBOX_FULL', `more than ${this.maxPending} undelivered messages from one peer`, {
        hint: 'the peer sends faster than this rank receives; this is a protocol bug or a misbehaving peer',
      });
    }
    const q = this.queued.get(msg.tag);
    if (q) q.push(msg);
    else this.queued.set(msg.tag, [msg]);
    this.pending++;
  }

  take(tag: string): Promise<PeerMessage> {
    if (this.failure) return Promise.reject(this.failure);
    const q = this.queued.get(tag);
    if (q && q.length > 0) {
      const m = q.shift()!;
      if (q.length === 0) this.queued.delete(tag);
      this.pending--;
      return Promise.resolve(m);
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
    this.queued.clear();
    this.pending = 0;
  }
}
