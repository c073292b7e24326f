import * as c from './check';
import { FrameIssue, type Fields } from './check';
import { PROTOCOL_VERSION } from './version';

/**
 * The byte layout of a frame (docs/protocol.md, "Frames"):
 *
 *   offset 0   0xc1 (a byte msgpack never uses), PROTOCOL_VERSION, 0, 0
 *   offset 4   u32 little-endian: H, the header's length in bytes
 *   offset 8   the header: one msgpack map, the message with every binary value replaced by
 *              its place in the payload section ({offset, length})
 *   8 + H      zero bytes up to the next multiple of 4: the payload section starts here
 *   then       each payload at its offset, in the order the header names them, each followed
 *              by zero bytes up to a multiple of 4; the frame ends with the last one's padding
 *
 * So a tensor's bytes start 4-byte aligned within the frame, and a sender hands the socket the
 * preamble + header, the padding and the payloads as separate buffers, never joined.
 */
export const FRAME_MARKER = 0xc1;
export const PREAMBLE_BYTES = 8;
export const PAYLOAD_ALIGN = 4;

/** A frame ready for the socket: its pieces in order (not joined) and their total size. */
export interface EncodedFrame {
  readonly pieces: readonly Uint8Array[];
  readonly byteLength: number;
}

const ZEROS = new Uint8Array(PAYLOAD_ALIGN);

export function alignUp(n: number): number {
  return Math.ceil(n / PAYLOAD_ALIGN) * PAYLOAD_ALIGN;
}

/**
 * The pieces of a frame whose first PREAMBLE_BYTES of `head` are free and the rest is the
 * msgpack header; fills the preamble in place. The payloads are referenced, not copied.
 */
export function framePieces(head: Uint8Array, payloads: readonly Uint8Array[]): EncodedFrame {
  const headerBytes = head.byteLength - PREAMBLE_BYTES;
  head[0] = FRAME_MARKER;
  head[1] = PROTOCOL_VERSION;
  head[2] = 0;
  head[3] = 0;
  new DataView(head.buffer, head.byteOffset, PREAMBLE_BYTES).setUint32(4, headerBytes, true);
  const pieces: Uint8Array[] = [head];
  let byteLength = head.byteLength;
  const pad = () => {
    const n = alignUp(byteLength) - byteLength;
    if (n > 0) pieces.push(ZEROS.subarray(0, n));
    byteLength += n;
  };
  pad();
  for (const p of payloads) {
    if (p.byteLength > 0) pieces.push(p);
    byteLength += p.byteLength;
    pad();
  }
  return { pieces, byteLength };
}

/** The pieces joined into one buffer (tests, tools, and transports that cannot write pieces). */
export function joinFrame(frame: EncodedFrame): Buffer {
  return Buffer.concat(frame.pieces, frame.byteLength);
}

/**
 * A frame around an already encoded msgpack header, unchecked: what a peer with its own encoder
 * (or a hostile one, in tests) would send.
 */
export function frameFromHeader(header: Uint8Array, payloads: readonly Uint8Array[] = []): Buffer {
  const head = new Uint8Array(PREAMBLE_BYTES + header.byteLength);
  head.set(header, PREAMBLE_BYTES);
  return joinFrame(framePieces(head, payloads));
}

/**
 * Where the header and the payload section of a received frame are. Throws FrameIssue (path
 * `preamble.*` or `padding`) for anything but this protocol's preamble, and for a header length
 * that does not fit the frame.
 */
export function readPreamble(buf: Uint8Array): { header: Uint8Array; payloads: Uint8Array } {
  if (buf.byteLength < PREAMBLE_BYTES) throw new FrameIssue('preamble', `at least ${PREAMBLE_BYTES} bytes`, `${buf.byteLength} bytes`);
  if (buf[0] !== FRAME_MARKER) {
    const looksLikeMsgpackMap = (buf[0] >= 0x80 && buf[0] <= 0x8f) || buf[0] === 0xde || buf[0] === 0xdf;
    throw new FrameIssue('preamble.marker', `0xc1 (a ringtrain frame of protocol version ${PROTOCOL_VERSION})`,
      looksLikeMsgpackMap ? 'a plain msgpack map (a frame of protocol version 2 or older)' : `0x${buf[0].toString(16).padStart(2, '0')}`);
  }
  if (buf[1] !== PROTOCOL_VERSION) throw new FrameIssue('preamble.version', `protocol version ${PROTOCOL_VERSION}`, `protocol version ${buf[1]}`);
  if (buf[2] !== 0 || buf[3] !== 0) throw new FrameIssue('preamble.reserved', 'zero bytes', `0x${buf[2].toString(16)} 0x${buf[3].toString(16)}`);
  const headerBytes = new DataView(buf.buffer, buf.byteOffset, PREAMBLE_BYTES).getUint32(4, true);
  const headerEnd = PREAMBLE_BYTES + headerBytes;
  const payloadStart = alignUp(headerEnd);
  if (headerBytes === 0 || payloadStart > buf.byteLength) {
    throw new FrameIssue('preamble.headerBytes', `1 to ${buf.byteLength - PREAMBLE_BYTES} bytes (what fits the frame with its padding)`, `${headerBytes}`);
  }
  checkZeros(buf, headerEnd, payloadStart, 'padding');
  return { header: buf.subarray(PREAMBLE_BYTES, headerEnd), payloads: buf.subarray(payloadStart) };
}

function checkZeros(buf: Uint8Array, from: number, to: number, path: string): void {
  for (let i = from; i < to; i++) if (buf[i] !== 0) throw new FrameIssue(path, 'zero bytes', `0x${buf[i].toString(16)} at byte ${i}`);
}

/**
 * How the validator finds a binary value (a tensor's or a chunk's bytes): inline in a message
 * being sent, or through a payload reference in a received header.
 */
export interface PayloadSource {
  /** The fields a binary value occupies in this form of a message. */
  readonly fields: readonly string[];
  /** The field an error about the value's length names. */
  readonly lengthField: string;
  /** The value of the map `f` at `path`. Throws FrameIssue. */
  take(f: Fields, path: string): Uint8Array;
}

/** Messages in memory: binary values are Uint8Arrays in a `bytes` field. */
export const INLINE_PAYLOADS: PayloadSource = Object.freeze({
  fields: Object.freeze(['bytes']),
  lengthField: 'bytes',
  take: (f: Fields, path: string) => c.bytes(f.bytes, c.join(path, 'bytes')),
});

/**
 * A received frame's payload section, handed out in order: each reference must name exactly the
 * next payload (its offset the 4-byte boundary after the previous one), lie within the frame and
 * be followed by zero padding; finish() then proves no bytes are left over. Values are views into
 * the frame (no copy).
 */
export class PayloadCursor implements PayloadSource {
  readonly fields = ['offset', 'length'] as const;
  readonly lengthField = 'length';
  private next = 0;

  constructor(private readonly section: Uint8Array) {}

  take(f: Fields, path: string): Uint8Array {
    const offsetPath = c.join(path, 'offset');
    if (f.offset !== this.next) throw new FrameIssue(offsetPath, `${this.next} (the next payload's place)`, c.describe(f.offset));
    const length = c.integer(f.length, c.join(path, 'length'), 0, this.section.byteLength - this.next);
    const end = this.next + length;
    const padded = alignUp(end);
    if (padded > this.section.byteLength) throw new FrameIssue(c.join(path, 'length'), `a payload padded to ${PAYLOAD_ALIGN} bytes within the frame`, `${length} bytes, ${this.section.byteLength - end} left for padding`);
    checkZeros(this.section, end, padded, 'padding');
    const bytes = this.section.subarray(this.next, end);
    this.next = padded;
    return bytes;
  }

  /** Every byte of the section belongs to a payload or its padding. */
  finish(): void {
    if (this.next !== this.section.byteLength) {
      throw new FrameIssue('payloads', `${this.next} bytes of payloads`, `${this.section.byteLength} bytes after the header`);
    }
  }
}
