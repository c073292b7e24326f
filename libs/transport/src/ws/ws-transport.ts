import { RingtrainError } from '@ringtrain/core';
import { tensorsToFrames } from '@ringtrain/protocol';
import type { Mailbox } from '../mailbox';
import type { PeerMessage, Transport, TransportStats } from '../transport';
import type { FramedConnection } from './framed-connection';

export interface WsTransportStats extends TransportStats {
  /** Whole frames incl. msgpack headers and hellos (bytesSent/Received count tensor payload only). */
  frameBytesSent: number;
  frameBytesReceived: number;
  /** Highest socket buffer seen on any link right after a send (backpressure check). */
  peakBufferedBytes: number;
  /** Received bytes not yet taken by recv, over all links (each bounded by maxQueuedBytes). */
  queuedBytes: number;
  /** Highest queued bytes seen on any one link. */
  peakQueuedBytes: number;
  /** How often links stopped reading because their queued bytes reached maxQueuedBytes. */
  readPauses: number;
  /** Frames whose payload the socket read straight into the frame's buffer (zero-copy receive). */
  framesReadDirectly: number;
  /** Frames read into a buffer a receiver had handed back with PeerMessage.recycle. */
  framesInReusedBuffers: number;
}

/** What a PeerServer shares with the transport it hands out. */
export interface MeshState {
  readonly rank: number;
  readonly worldSize: number;
  readonly links: ReadonlyMap<number, FramedConnection<'peer'>>;
  /** mailboxes[peer]: data frames received from that peer. */
  readonly mailboxes: readonly Mailbox[];
  /** Why the link to `peer` is down; null while it is up. */
  linkError(peer: number): RingtrainError | null;
  /** Counted as messages reach the mailboxes. */
  readonly received: { messages: number; bytes: number };
  close(): Promise<void>;
}

/**
 * The data plane over a full mesh of WebSocket links (one per pair of ranks), built by
 * PeerServer.connectMesh. Frames from one peer arrive in order, so per-tag FIFO order holds.
 */
export class WsTransport implements Transport {
  readonly rank: number;
  readonly worldSize: number;
  private closed = false;
  private readonly sent = { messages: 0, bytes: 0 };

  constructor(private readonly mesh: MeshState) {
    this.rank = mesh.rank;
    this.worldSize = mesh.worldSize;
  }

  /**
   * Validates and frames the message at once; the frame references the tensors' memory, so the
   * caller must not change them until this settles. Resolves when the socket has written the
   * frame out (after waiting while more than sendHighWaterBytes was buffered). Rejects with the
   * link's error (PEER_DEAD, PEER_CLOSED) if the peer is gone.
   */
  async send(to: number, msg: PeerMessage): Promise<void> {
    this.checkPeer(to);
    if (this.closed) throw new RingtrainError('TRANSPORT_CLOSED', `rank ${this.rank} sent to rank ${to} after close`);
    const link = this.mesh.links.get(to)!;
    const tensors = tensorsToFrames(msg.tensors);
    try {
      await link.send({ t: 'data', tag: msg.tag, tensors, meta: msg.meta });
    } catch (e) {
      throw this.mesh.linkError(to) ?? e;
    }
    this.sent.messages++;
    for (const t of tensors) this.sent.bytes += t.bytes.byteLength;
  }

  /** Resolves with the next message with this tag from that rank; rejects if that link died. */
  recv(from: number, tag: string): Promise<PeerMessage> {
    this.checkPeer(from);
    return this.mesh.mailboxes[from].take(tag);
  }

  stats(): WsTransportStats {
    const out: WsTransportStats = {
      bytesSent: this.sent.bytes,
      bytesReceived: this.mesh.received.bytes,
      messagesSent: this.sent.messages,
      messagesReceived: this.mesh.received.messages,
      frameBytesSent: 0,
      frameBytesReceived: 0,
      peakBufferedBytes: 0,
      queuedBytes: 0,
      peakQueuedBytes: 0,
      readPauses: 0,
      framesReadDirectly: 0,
      framesInReusedBuffers: 0,
    };
    for (const link of this.mesh.links.values()) {
      const s = link.stats();
      out.frameBytesSent += s.bytesSent;
      out.frameBytesReceived += s.bytesReceived;
      out.peakBufferedBytes = Math.max(out.peakBufferedBytes, s.peakBufferedBytes);
      out.queuedBytes += s.queuedBytes;
      out.peakQueuedBytes = Math.max(out.peakQueuedBytes, s.peakQueuedBytes);
      out.readPauses += s.readPauses;
      out.framesReadDirectly += s.framesReadDirectly;
      out.framesInReusedBuffers += s.framesInReusedBuffers;
    }
    return out;
  }

  /** Closes every link and the peer server. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.mesh.close();
  }

  private checkPeer(peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.worldSize || peer === this.rank) {
      throw new RingtrainError('BAD_PEER', `rank ${this.rank} addressed peer ${peer} in a world of ${this.worldSize}`);
    }
  }
}
