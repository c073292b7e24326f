import { RingtrainError } from '@ringtrain/core';
import { Packr, Unpackr } from 'msgpackr';
import { FrameIssue, describe } from './check';
import { DEFAULT_FRAME_LIMITS, type FrameLimits } from './limits';
import { DIRECTION_OF_TYPE, type Direction, type Msg, type MsgOf, type MsgType } from './messages';
import { validateMsg } from './validate';

/*
 * Plain msgpack maps: no record extension (the far end may be another implementation), no
 * `moreTypes` (typed arrays would become copied extensions; tensors travel as `bin`).
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Frames above this size get their own encode buffer, which is dropped once they are sent. */
const RELEASE_ENCODE_BUFFER_ABOVE = 1 << 20;

/**
 * Encodes one message. The message is validated as a decoder would validate it (BAD_MESSAGE
 * here, rather than BAD_FRAME at the far end). Tensor bytes are copied into the frame once, so
 * the caller may reuse its buffers as soon as this returns.
 */
export function encodeFrame(msg: Msg, limits: FrameLimits = DEFAULT_FRAME_LIMITS): Buffer {
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
    clean = validateMsg(msg, direction, limits);
  } catch (e) {
    throw issueToError(e, 'BAD_MESSAGE', `refusing to send an invalid ${t} message`, { direction });
  }
  const frame = packr.pack(clean);
  // msgpackr keeps writing into its last (grown) buffer; after a huge frame, start a small one
  // so the big allocation is freed with the frame instead of living as long as the process.
  if (frame.byteLength > RELEASE_ENCODE_BUFFER_ABOVE) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  return frame;
}

/**
 * Decodes and validates one frame travelling in `direction`. Never returns an unchecked value:
 * any problem throws RingtrainError BAD_FRAME with `details` {direction, bytes, path, expected,
 * got} (path etc. when a field is at fault). Tensor bytes are views into `buf`.
 */
export function decodeFrame<D extends Direction>(buf: Uint8Array, direction: D, limits: FrameLimits = DEFAULT_FRAME_LIMITS): MsgOf<D> {
  if (!(buf instanceof Uint8Array)) {
    throw new RingtrainError('BAD_FRAME', `a frame must be binary, got ${describe(buf)}`, { details: { direction } });
  }
  let value: unknown;
  try {
    value = unpackr.unpack(buf);
  } catch (e) {
    throw new RingtrainError('BAD_FRAME', `${direction} frame of ${buf.byteLength} bytes is not valid msgpack: ${(e as Error)?.message ?? e}`, {
      hint: 'the sender is not speaking the ringtrain protocol (or the frame was corrupted)',
      details: { direction, bytes: buf.byteLength, head: Buffer.from(buf.subarray(0, 16)).toString('hex') },
      cause: e,
    });
  }
  try {
    return validateMsg(value, direction, limits);
  } catch (e) {
    throw issueToError(e, 'BAD_FRAME', `invalid ${direction} frame`, { direction, bytes: buf.byteLength });
  }
}

function issueToError(e: unknown, code: string, what: string, details: Record<string, unknown>): RingtrainError {
  if (!(e instanceof FrameIssue)) {
    // A msgpack decoder can hand back odd objects (cycles, getters); never let that escape uncoded.
    return new RingtrainError(code, `${what}: ${(e as Error)?.message ?? String(e)}`, { details, cause: e });
  }
  return new RingtrainError(code, `${what}: ${e.message}`, {
    hint: e.path === 'v' ? 'both ends must run the same ringtrain protocol version' : undefined,
    details: { ...details, path: e.path, expected: e.expected, got: e.got },
  });
}
