import { RingtrainError, optionError } from '@ringtrain/core';

/**
 * Limits and timers of the WebSocket transport. Every bound on what a peer can make us hold or
 * wait for is here, with its default; options are compiled once into a frozen WsConfig.
 */
export interface WsOptions {
  /**
   * Largest frame accepted (the `ws` maxPayload), in bytes. A bigger incoming frame closes the
   * connection (ws close 1009, reported as FRAME_TOO_LARGE); a bigger outgoing one is refused
   * before it is sent. Default 256 MiB. At most 2 GiB - 1 (msgpack bin32 and msgpackr's limit).
   */
  maxFrameBytes?: number;
  /** How often each end pings the other. Default 5000. */
  heartbeatIntervalMs?: number;
  /**
   * How long a ping may go unanswered (no pong and no frame) before the peer is declared dead
   * (PEER_DEAD) and the connection terminated. Generous by default because a busy worker
   * answers pings only between synchronous kernels, and one segment of a long shard can run for minutes. Default 300000 (5 min).
   */
  heartbeatTimeoutMs?: number;
  /**
   * send() waits while more than this many bytes are buffered for the socket, so a slow reader
   * bounds our memory at about this plus one frame. Default 16 MiB.
   */
  sendHighWaterBytes?: number;
  /** How long a new connection may take to deliver its first frame (hello). Default 10000. */
  helloTimeoutMs?: number;
  /** How long one WebSocket opening handshake may take (client side). Default 10000. */
  connectTimeoutMs?: number;
  /** How long to wait for the peer's close frame before dropping the socket. Default 2000. */
  closeTimeoutMs?: number;
  /**
   * Decoded messages held for a consumer that has not taken them (per peer mailbox, or before a
   * handler is attached). More closes the connection with MAILBOX_FULL. Default 1024.
   */
  maxQueuedMessages?: number;
  /**
   * Bytes of received frames that wait for their consumer (before a handler is attached, in a
   * messages() iterator, in a peer mailbox), per connection. Reaching it stops reading that
   * socket, so TCP backpressure throttles the sender; reading resumes as the consumer takes
   * messages. Memory per connection is then about this plus one frame. At least maxFrameBytes.
   *
   * Default 2 × maxFrameBytes (512 MiB with the default frame limit): the largest frame can be
   * consumed while the next one streams in, so a peer one frame ahead (the ring's K/V blocks,
   * all-reduce chunks) is never paused, while a peer that floods holds at most about three
   * frames of this process's memory instead of everything it sends.
   */
  maxQueuedBytes?: number;
  /**
   * Masking key of frames a client sends. RFC 6455 has clients mask with a random key so that
   * browser scripts cannot poison HTTP proxy caches; ringtrain's clients are not browsers and
   * dial peers directly, so by default they send the all-zero key, which `ws` recognises to skip
   * a copy and a byte-wise XOR pass on each end (about 3x the client-to-server throughput on the
   * reference machine, without the optional bufferutil addon). Frames stay valid for any server.
   * Use 'random' when an HTTP proxy sits between the processes. Default 'zero'.
   */
  clientMaskKey?: 'zero' | 'random';
}

export type WsConfig = Readonly<Required<WsOptions>>;

const MiB = 1024 * 1024;

export const WS_DEFAULTS: WsConfig = Object.freeze({
  maxFrameBytes: 256 * MiB,
  heartbeatIntervalMs: 5000,
  heartbeatTimeoutMs: 300000,
  sendHighWaterBytes: 16 * MiB,
  helloTimeoutMs: 10000,
  connectTimeoutMs: 10000,
  closeTimeoutMs: 2000,
  maxQueuedMessages: 1024,
  maxQueuedBytes: 2 * 256 * MiB,
  clientMaskKey: 'zero',
});

/** maxQueuedBytes when not given: room for the frame being consumed and the next one. */
const QUEUED_FRAMES_BY_DEFAULT = 2;

type CountKey = Exclude<keyof WsOptions, 'clientMaskKey'>;

const UPPER_BOUNDS: Readonly<Record<CountKey, number>> = {
  maxFrameBytes: 2 ** 31 - 1,
  heartbeatIntervalMs: 2 ** 31 - 1, // setTimeout's limit
  heartbeatTimeoutMs: 2 ** 31 - 1,
  sendHighWaterBytes: 2 ** 31 - 1,
  helloTimeoutMs: 2 ** 31 - 1,
  connectTimeoutMs: 2 ** 31 - 1,
  closeTimeoutMs: 2 ** 31 - 1,
  maxQueuedMessages: 2 ** 31 - 1,
  maxQueuedBytes: Number.MAX_SAFE_INTEGER, // a byte count in memory, not a timer or a wire field
};

export const WS_OPTION_KEYS: readonly (keyof WsOptions)[] = Object.freeze(Object.keys(WS_DEFAULTS) as (keyof WsOptions)[]);

/**
 * Validates and freezes transport options. `ownKeys` are the other keys the caller's options
 * object may carry (e.g. `rank`, `secret`); any key outside both sets is rejected with the
 * nearest valid one suggested.
 */
export function compileWsOptions(opts: object = {}, ownKeys: readonly string[] = []): WsConfig {
  rejectUnknownKeys(opts, [...WS_OPTION_KEYS, ...ownKeys]);
  const given = opts as WsOptions;
  const counts = {} as Record<CountKey, number>;
  for (const key of Object.keys(UPPER_BOUNDS) as CountKey[]) {
    // maxFrameBytes comes first in UPPER_BOUNDS, so the derived default can use the checked value.
    const value = given[key] ?? (key === 'maxQueuedBytes' ? QUEUED_FRAMES_BY_DEFAULT * counts.maxFrameBytes : WS_DEFAULTS[key]);
    if (!Number.isSafeInteger(value) || value < 1 || value > UPPER_BOUNDS[key]) {
      throw optionError(key, value, `an integer from 1 to ${UPPER_BOUNDS[key]}`);
    }
    counts[key] = value;
  }
  if (counts.maxQueuedBytes < counts.maxFrameBytes) {
    throw optionError('maxQueuedBytes', counts.maxQueuedBytes, `at least maxFrameBytes (${counts.maxFrameBytes}), so that the largest frame can wait for its consumer`);
  }
  const clientMaskKey = given.clientMaskKey ?? WS_DEFAULTS.clientMaskKey;
  if (clientMaskKey !== 'zero' && clientMaskKey !== 'random') throw optionError('clientMaskKey', clientMaskKey, '"zero" or "random"');
  return Object.freeze({ ...counts, clientMaskKey });
}

export function rejectUnknownKeys(opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    throw new RingtrainError('BAD_OPTION', `unknown option "${key}"${near ? `; did you mean "${near}"?` : ''}`, {
      hint: `valid options: ${known.join(', ')}`,
      details: { option: key, suggestion: near },
    });
  }
}

/** The known word closest to `word` by edit distance, if it is close enough to be a typo. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Heartbeats that detect a silent peer within `timeoutMs`: a ping every third of it (at most every 5 s). */
export function heartbeatOptions(timeoutMs: number): Pick<WsOptions, 'heartbeatTimeoutMs' | 'heartbeatIntervalMs'> {
  return { heartbeatTimeoutMs: timeoutMs, heartbeatIntervalMs: Math.max(50, Math.min(WS_DEFAULTS.heartbeatIntervalMs, Math.floor(timeoutMs / 3))) };
}
