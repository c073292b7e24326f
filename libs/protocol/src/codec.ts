import { RingtrainError } from '@ringtrain/core';
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { FrameIssue, describe } from './check';
import { INLINE_PAYLOADS, PREAMBLE_BYTES, PayloadCursor, alignUp, framePieces, joinFrame, readPreamble, type EncodedFrame } from './frame';
import { DEFAULT_FRAME_LIMITS, type FrameLimits } from './limits';
import { DIRECTION_OF_TYPE, type Direction, type Msg, type MsgOf, type MsgType } from './messages';
import { validateMsg } from './validate';

/*
 * Headers are plain msgpack maps: no record extension (the far end may be another
 * implementation), no `moreTypes`. Binary values never enter the header (frame.ts).
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/**
 * msgpackr writes each header after the previous one into one reused 8 KiB buffer (a header
 * handed to the socket is never overwritten: msgpackr starts a fresh buffer when it runs out).
 * After a header this big (huge params), start a small one so the big one is freed with it.
 */
const RELEASE_ENCODE_BUFFER_ABOVE = 1 << 20;

/**
 * Encodes one message as the pieces of a frame: preamble and header in one small buffer, then
 * padding and the payloads, which are the message's own bytes (no copy). The caller must not
 * change those bytes until the pieces have been written. The message is validated as a decoder
 * would validate it (BAD_MESSAGE here, rather than BAD_FRAME at the far end).
 */
export function encodeFramePieces(msg: Msg, limits: FrameLimits = DEFAULT_FRAME_LIMITS): EncodedFrame {
  const t: unknown = (msg as { t?: unknown } | null)?.t;
  const direction = typeof t === 'string' && Object.prototype.hasOwnProperty.call(DIRECTION_OF_TYPE, t) ? DIRECTION_OF_TYPE[t as MsgType] : null;
  if (direction === null) {
    throw new RingtrainError('BAD_MESSAGE', `refusing to send a message with unknown type ${describe(t)}`, {
      hint: `known types: ${Object.keys(DIRECTION_OF_TYPE).join(', ')}`,
      details: { t },
    });
  }
  let clean: Msg;
  try {
    clean = validateMsg(msg, direction, limits, INLINE_PAYLOADS);
  } catch (e) {
    throw issueToError(e, 'BAD_MESSAGE', `refusing to send an invalid ${t} message`, { direction });
  }
  const payloads: Uint8Array[] = [];
  const head = packr.pack(headerOf(clean, payloads), RESERVE_START_SPACE | PREAMBLE_BYTES);
  if (head.byteLength > RELEASE_ENCODE_BUFFER_ABOVE) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  return framePieces(head, payloads);
}

/** The frame as one buffer (one copy of the payloads): for tests and tools. */
export function encodeFrame(msg: Msg, limits: FrameLimits = DEFAULT_FRAME_LIMITS): Buffer {
  return joinFrame(encodeFramePieces(msg, limits));
}

/**
 * The header of a validated message: each binary value (a tensor's or a chunk's `bytes`)
 * becomes {offset, length} in the payload section and is appended to `payloads`, in the order
 * validate.ts takes them back out.
 */
function headerOf(msg: Msg, payloads: Uint8Array[]): object {
  let next = 0;
  const place = (bytes: Uint8Array) => {
    const ref = { offset: next, length: bytes.byteLength };
    payloads.push(bytes);
    next = alignUp(next + bytes.byteLength);
    return ref;
  };
  switch (msg.t) {
    case 'data':
    case 'result':
    case 'job':
      return { ...msg, tensors: msg.tensors.map(({ bytes, ...rest }) => ({ ...rest, ...place(bytes) })) };
    case 'result-chunk':
    case 'job-chunk': {
      const { bytes, ...rest } = msg;
      return { ...rest, ...place(bytes) };
    }
    default:
      return msg;
  }
}

/**
 * Decodes and validates one frame travelling in `direction`. Never returns an unchecked value:
 * any problem throws RingtrainError BAD_FRAME with `details` {direction, bytes, path, expected,
 * got} (path etc. when a field is at fault). Binary values are views into `buf`.
 */
export function decodeFrame<D extends Direction>(buf: Uint8Array, direction: D, limits: FrameLimits = DEFAULT_FRAME_LIMITS): MsgOf<D> {
  if (!(buf instanceof Uint8Array)) {
    throw new RingtrainError('BAD_FRAME', `a frame must be binary, got ${describe(buf)}`, { details: { direction } });
  }
  const what = `invalid ${direction} frame`;
  const details = { direction, bytes: buf.byteLength };
  let parts: ReturnType<typeof readPreamble>;
  try {
    parts = readPreamble(buf);
  } catch (e) {
    throw issueToError(e, 'BAD_FRAME', what, { ...details, head: Buffer.from(buf.subarray(0, 16)).toString('hex') });
  }
  let value: unknown;
  try {
    value = unpackr.unpack(parts.header);
  } catch (e) {
    throw new RingtrainError('BAD_FRAME', `${direction} frame of ${buf.byteLength} bytes has a header that is not valid msgpack: ${(e as Error)?.message ?? e}`, {
      hint: 'the sender is not speaking the ringtrain protocol (or the frame was corrupted)',
      details: { ...details, headerBytes: parts.header.byteLength },
      cause: e,
    });
  }
  try {
    const cursor = new PayloadCursor(parts.payloads);
    const msg = validateMsg(value, direction, limits, cursor);
    cursor.finish();
    return msg;
  } catch (e) {
    throw issueToError(e, 'BAD_FRAME', what, details);
  }
}

function issueToError(e: unknown, code: string, what: string, details: Record<string, unknown>): RingtrainError {
  if (!(e instanceof FrameIssue)) {
    // A msgpack decoder can hand back odd objects (cycles, getters); never let that escape uncoded.
    return new RingtrainError(code, `${what}: ${(e as Error)?.message ?? String(e)}`, { details, cause: e });
  }
  return new RingtrainError(code, `${what}: ${e.message}`, {
    hint: isVersionIssue(e) ? 'both ends must run the same ringtrain protocol version' : undefined,
    details: { ...details, path: e.path, expected: e.expected, got: e.got },
  });
}

/** A frame of another protocol version, as far as the preamble or a `v` field can tell. */
function isVersionIssue(e: FrameIssue): boolean {
  return e.path === 'v' || e.path === 'preamble.version' || (e.path === 'preamble.marker' && e.got.includes('protocol version'));
}
