import { joinFrame, type EncodedFrame } from '@ringtrain/protocol';
import type { WebSocket } from 'ws';

/**
 * How this end frames what it sends (RFC 6455 §5.3): a server does not mask; a client masks,
 * with the all-zero key (`clientMaskKey: 'zero'`, masking is then the identity) or a random one.
 */
export type SendFraming = 'server' | 'client-zero-mask' | 'client-random-mask';

export interface MessageWriter {
  /** True when messages go to the socket as their pieces; false when they are joined first. */
  readonly writesPieces: boolean;
  /**
   * Writes one binary WebSocket message made of the frame's pieces, after everything written
   * before. `done` runs once the socket no longer needs the pieces: without an error once they
   * were written out, with one if the socket failed or was destroyed first.
   */
  write(frame: EncodedFrame, done: (err?: Error | null) => void): void;
}

/** The parts of `ws`'s WebSocket the piecewise path relies on (ws 8; checked at run time). */
interface WsInternals {
  _socket?: { cork?: unknown; uncork?: unknown; write?: unknown; destroyed?: boolean };
  _sender?: { _queue?: unknown };
}

interface CorkableSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean;
}

/**
 * `ws.send` takes one buffer, so sending a frame through it would join header and payloads (a
 * copy of every tensor). Instead this writes the WebSocket frame header and then each piece
 * straight to ws's socket, corked into one writev: the same bytes `ws.send` of the joined frame
 * would put on the wire, with no copy. ws's own writes (pings, pongs, close) go to the same
 * socket between our messages, never inside one, because a message is written synchronously.
 *
 * Only where that is sound: no extension negotiated (permessage-deflate would queue ws's writes
 * behind a compressor), ws's sender has nothing queued, and no random mask (masking would copy
 * anyway). Otherwise, or if ws's internals are not what this expects, it joins the pieces and
 * calls `ws.send` — correct everywhere, one copy slower.
 */
export function messageWriter(ws: WebSocket, framing: SendFraming): MessageWriter {
  const internals = ws as unknown as WsInternals;
  const socket = internals._socket;
  const sender = internals._sender;
  const piecewise =
    framing !== 'client-random-mask' &&
    ws.extensions === '' &&
    typeof socket?.cork === 'function' &&
    typeof socket.uncork === 'function' &&
    typeof socket.write === 'function' &&
    Array.isArray(sender?._queue);
  const masked = framing !== 'server';
  // Node calls the write callback of a destroyed socket without an error: not written after all.
  const finished = (done: (err?: Error | null) => void) => (err?: Error | null) =>
    done(err ?? (socket?.destroyed === true ? new Error('the socket was destroyed before the frame was written out') : null));
  const joined: MessageWriter = {
    writesPieces: false,
    write: (frame, done) => ws.send(joinFrame(frame), { binary: true }, finished(done)),
  };
  if (!piecewise) return joined;
  const direct = socket as CorkableSocket;
  const queue = sender!._queue as unknown[];
  return {
    writesPieces: true,
    write(frame, done) {
      if (queue.length > 0) return joined.write(frame, done); // behind what ws queued, in order
      const { pieces } = frame;
      const last = finished(done);
      direct.cork();
      try {
        direct.write(frameHeader(frame.byteLength, masked));
        for (let i = 0; i < pieces.length; i++) direct.write(pieces[i], i === pieces.length - 1 ? last : undefined);
      } finally {
        direct.uncork();
      }
    },
  };
}

/** FIN + binary opcode, the payload length, and for a client the mask bit and a zero key. */
export function frameHeader(payloadBytes: number, masked: boolean): Buffer {
  const lengthBytes = payloadBytes < 126 ? 0 : payloadBytes < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0)); // zero-filled: the mask key
  header[0] = 0x82;
  if (lengthBytes === 0) header[1] = payloadBytes;
  else if (lengthBytes === 2) {
    header[1] = 126;
    header.writeUInt16BE(payloadBytes, 2);
  } else {
    header[1] = 127;
    header.writeUIntBE(payloadBytes, 4, 6); // frames stay far below 2^48 bytes
  }
  if (masked) header[1] |= 0x80;
  return header;
}
