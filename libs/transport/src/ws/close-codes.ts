import { RingtrainError } from '@ringtrain/core';

/**
 * WebSocket close codes for coded failures. The close reason always starts with the stable
 * error code (`BAD_FRAME: tensors[0].bytes ...`) so the far end can rebuild the error.
 */
export const CLOSE_CODES: Readonly<Record<string, number>> = Object.freeze({
  BAD_FRAME: 4400,
  BAD_HELLO: 4403,
  UNEXPECTED_FRAME: 4405,
  HELLO_TIMEOUT: 4408,
  DUPLICATE_PEER: 4409,
  FRAME_TOO_LARGE: 4413,
  MAILBOX_FULL: 4429,
  HANDLER_FAILED: 4500,
});

export const NORMAL_CLOSURE = 1000;
export const GOING_AWAY = 1001;
/** What `ws` reports when the connection ended without a close frame (dropped or terminated). */
export const ABNORMAL_CLOSURE = 1006;
/** What `ws` itself sends when a frame exceeds maxPayload. */
export const MESSAGE_TOO_BIG = 1009;

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

export function closeCodeFor(errorCode: string): number {
  return CLOSE_CODES[errorCode] ?? CLOSE_CODES.HANDLER_FAILED;
}

export function closeReason(err: RingtrainError): string {
  return truncateUtf8(`${err.code}: ${err.message}`, MAX_REASON_BYTES);
}

export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = text.slice(0, maxBytes);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}

/** The error that a close started by the far end stands for (PEER_CLOSED for a plain normal close). */
export function errorFromRemoteClose(code: number, reason: string, label: string): RingtrainError {
  const details = { peer: label, closeCode: code, reason };
  const coded = /^([A-Z][A-Z0-9_]*): ?(.*)$/s.exec(reason);
  if (coded && code >= 4000 && code < 5000) {
    return new RingtrainError(coded[1], `${label} closed the connection: ${coded[2]}`, { details: { ...details, remote: true } });
  }
  switch (code) {
    case ABNORMAL_CLOSURE:
      return new RingtrainError('PEER_DEAD', `connection to ${label} dropped without a close frame`, {
        hint: 'the peer process exited or the network failed',
        details,
      });
    case MESSAGE_TOO_BIG:
      return new RingtrainError('FRAME_TOO_LARGE', `${label} refused a frame as too large`, {
        hint: 'raise maxFrameBytes on both ends, or send smaller messages',
        details,
      });
    case 1002:
    case 1003:
    case 1007:
      return new RingtrainError('BAD_FRAME', `${label} closed the connection over a malformed frame (${code} ${reason})`, { details });
    default:
      return new RingtrainError('PEER_CLOSED', `${label} closed the connection (${code}${reason ? ` ${reason}` : ''})`, { details });
  }
}

/** Maps an error `ws` raised while reading a frame from the peer. */
export function errorFromWs(err: Error & { code?: string }, label: string): RingtrainError {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new RingtrainError('FRAME_TOO_LARGE', `${label} sent a frame larger than maxFrameBytes: ${err.message}`, {
      hint: 'raise maxFrameBytes on both ends, or send smaller messages',
      details: { peer: label, wsCode: err.code },
      cause: err,
    });
  }
  return new RingtrainError('BAD_FRAME', `${label} broke the WebSocket framing: ${err.message}`, {
    details: { peer: label, wsCode: err.code },
    cause: err,
  });
}
