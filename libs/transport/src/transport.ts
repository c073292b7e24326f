/**
 * The data plane seen by a strategy: tagged messages between ranks. One implementation per
 * medium (in-memory for unit tests, WebSocket + msgpack between processes).
 *
 * Ordering: messages from one rank with one tag are received in the order they were sent.
 * A strategy uses a fresh tag per logical transfer (e.g. `attn.fwd.3.kv`) so transfers of
 * different steps never mix.
 */
import type { WireTensor } from '@ringtrain/protocol';

// The tensor types are defined by the wire protocol; they are re-exported here unchanged.
export type { WireDtype, WireTensor } from '@ringtrain/protocol';

export interface PeerMessage {
  tag: string;
  tensors: Record<string, WireTensor>;
  /** Small scalars that travel with the tensors (e.g. a block's source rank). */
  meta?: Record<string, number | string | boolean>;
  /**
   * Set by a medium that can reuse the memory of a received message's tensors (the WebSocket
   * medium: the frame's buffer for a later frame of the same size). A receiver that calls it says
   * it is done with every tensor of the message, including anything that still reads them (a
   * send of them that has not settled, a tensor made over their memory). Never calling it is
   * always safe: the memory is then collected as usual. Calling it twice is harmless.
   */
  recycle?: () => void;
}

export interface Transport {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * Hands the message to the medium. Resolves when the medium no longer needs the tensors'
   * memory (not when the peer has read it); until then the caller must not change them, since
   * the WebSocket medium writes them to the socket without a copy. Rejects if the peer is gone.
   */
  send(to: number, msg: PeerMessage): Promise<void>;
  /** Resolves with the next message with this tag from that rank; rejects if the peer dies. */
  recv(from: number, tag: string): Promise<PeerMessage>;
  /** Counters for benchmarks and metrics. */
  stats(): TransportStats;
  close(): Promise<void>;
}

export interface TransportStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
}

export function f32(shape: number[], data: Float32Array): WireTensor {
  return { dtype: 'float32', shape, data };
}

export function i32(shape: number[], data: Int32Array): WireTensor {
  return { dtype: 'int32', shape, data };
}
