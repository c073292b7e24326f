import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * The receiving half of the zero-copy wire. `ws` keeps every socket read of a message (64 KiB
 * each, in a fresh buffer) until the message is complete and then joins them into a fresh buffer
 * of the message's size: each 4 MiB tensor is copied from reads that have long left the cache,
 * and 64 reads stay alive per message in flight. This reader sits in front of ws's parser and
 * takes the one kind of frame ringtrain sends in bulk — a whole binary message in one frame
 * (FIN, opcode 2, no extension bits) with the masking this end expects and an all-zero mask key
 * (masking is then the identity) — and copies each read into the message's buffer as it arrives,
 * while the read is still in cache: one allocation of the message's size, sized from the frame
 * header, and one copy. A frame that fits inside one read is handed over as a view of it, as ws
 * does.
 *
 * Every other frame — control frames (ping, pong, close), text, fragments and their
 * continuations, a random mask key, a reserved bit, an oversized length — goes byte for byte to
 * ws's own parser, which handles or refuses it exactly as before. Frames are forwarded whole and
 * in order, so ws's parser always starts at a frame boundary.
 *
 * It relies on ws 8's internals (`_receiver` with `write`, its state at a frame boundary when
 * the socket opens); where they are not what it expects it does nothing and ws reads alone.
 */

/** What the reader takes: masked frames on a server's end, unmasked ones on a client's. */
export interface FrameReaderOptions {
  /** True on a server's end: clients must mask (RFC 6455 §5.1). */
  expectMasked: boolean;
  /** Larger frames go to ws's parser, which closes the connection with 1009 as before. */
  maxPayload: number;
  /**
   * Each whole binary message taken, in arrival order, between ws's own events. `recycle`, when
   * given, hands `data` back to the reader for a later frame of the same size: call it only once
   * nothing reads `data` any more.
   */
  onBinary(data: Buffer, recycle?: () => void): void;
}

interface ReceiverInternals {
  write?: unknown;
  _state?: unknown;
  _bufferedBytes?: unknown;
  _fragmented?: unknown;
}

const GET_INFO = 0; // ws's receiver between frames
const MAX_HEADER = 14;

/**
 * Puts the reader in front of ws's parser, and where the socket allows it, has the socket read
 * straight into the messages (readsInto). Returns how: 'direct', 'copy' (socket reads copied into
 * the messages), or 'none' (ws's internals are not what the reader relies on: ws reads alone).
 */
export type ReadMode = 'direct' | 'copy' | 'none';

export function installFrameReader(ws: WebSocket, opts: FrameReaderOptions): { mode: ReadMode; reader: FrameReader | null } {
  const internals = ws as unknown as { _receiver?: ReceiverInternals; _socket?: Socket };
  const receiver = internals._receiver;
  const none = { mode: 'none' as const, reader: null };
  if (!receiver || typeof receiver.write !== 'function') return none;
  if (receiver._state !== GET_INFO || receiver._bufferedBytes !== 0 || receiver._fragmented !== 0) return none;
  const wsWrite = (receiver.write as (chunk: Buffer) => boolean).bind(receiver);
  const reader = new FrameReader(opts, wsWrite);
  receiver.write = (chunk: Buffer) => reader.write(chunk);
  return { mode: internals._socket && readsInto(internals._socket, reader) ? 'direct' : 'copy', reader };
}

const SCRATCH_BYTES = 64 * 1024;
/** Frame buffers kept for reuse per connection: at most this many bytes (and 8 buffers). */
const SPARE_BYTES = 64 * 1024 * 1024;
const SPARE_BUFFERS = 8;

/**
 * Node reads a socket into a fresh 64 KiB buffer each time, unless the socket was made with
 * `onread`, which reads into memory the caller names, read after read. Only sockets made by
 * `net.connect`/`new Socket` take `onread`, not ones a server accepts or ws dials, so this
 * switches an open socket to it the way Node's own constructor sets it up (its kBuffer,
 * kBufferCb and kBufferGen slots, then `useUserBuffer` on the handle): between frames reads land
 * in one reused scratch buffer; inside one of the reader's messages they land in the rest of the
 * message, so its payload is copied once, by the kernel. pause() and resume() keep working
 * (Node's Socket stops and starts the handle itself in this mode).
 *
 * Only for a plain TCP socket with nothing buffered yet, on a Node whose sockets have those slots
 * (20 and 22 do); anything else keeps Node's reads, and the reader copies from them.
 */
function readsInto(socket: Socket, reader: FrameReader): boolean {
  const slot = (name: string) => Object.getOwnPropertySymbols(socket).find((s) => s.description === name);
  const kBuffer = slot('kBuffer');
  const kBufferCb = slot('kBufferCb');
  const kBufferGen = slot('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  const slots = socket as unknown as Record<symbol, unknown>;
  if (!kBuffer || !kBufferCb || !kBufferGen || slots[kBuffer] !== null) return false;
  if ((socket as { encrypted?: boolean }).encrypted || typeof handle?.useUserBuffer !== 'function') return false;
  if (socket.readableLength !== 0 || socket.destroyed) return false;
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  let target = reader.nextReadTarget(scratch);
  slots[kBufferCb] = (n: number, buf: Buffer): boolean => {
    if (buf !== scratch) reader.filledDirectly(n);
    else if (!reader.write(scratch.subarray(0, n), true)) socket.pause(); // ws's parser is full (as ws's own reader does)
    return true; // pausing goes through socket.pause(), which stops the handle in this mode
  };
  slots[kBufferGen] = () => (target = reader.nextReadTarget(scratch));
  slots[kBuffer] = target;
  (handle.useUserBuffer as (buf: Uint8Array) => void).call(handle, target);
  return true;
}

/** Splits the byte stream into frames; takes ours, forwards the rest to `forward` (ws's parser). */
export class FrameReader {
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerBytes = 0;
  /** Bytes of the current frame's payload still to come (forwarded or taken). */
  private remaining = 0;
  /** The message being filled, and how much of it has arrived; null when none is. */
  private message: Buffer | null = null;
  private filled = 0;
  /** Inside a frame handed to ws's parser. */
  private forwarding = false;
  /** ws's parser is inside a fragmented message: everything goes to it until it ends. */
  private fragmented = false;
  /** Messages whose payload the socket read (at least partly) straight into their buffer. */
  directMessages = 0;
  private direct = false;
  /**
   * Buffers their consumers handed back, by size. A fresh buffer per frame costs page faults as
   * the kernel first writes it (this VM maps new memory at about 1 GB/s) and the collector's time
   * to reclaim it; a ring sends blocks of one size hop after hop, so a few buffers serve them all.
   */
  private readonly spare = new Map<number, Buffer[]>();
  private spareBytes = 0;
  private spareCount = 0;
  /** Frames read into a buffer that a consumer had handed back. */
  reusedBuffers = 0;

  constructor(
    private readonly opts: FrameReaderOptions,
    private readonly forward: (bytes: Buffer) => boolean,
  ) {}

  /**
   * Bytes read from the socket. `reused`: the caller reads into this memory again, so nothing
   * may keep a view of it (a message inside it, or what ws's parser buffers, is copied out).
   * Returns false when ws's parser asks the socket to pause.
   */
  write(chunk: Buffer, reused = false): boolean {
    let ok = true;
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        at = this.payload(chunk, at, reused, (bytes) => (ok = this.forward(bytes) && ok));
        continue;
      }
      // A frame header, possibly split across reads.
      const need = headerLength(this.header, this.headerBytes);
      const take = Math.min(need - this.headerBytes, chunk.length - at);
      chunk.copy(this.header, this.headerBytes, at, at + take);
      this.headerBytes += take;
      at += take;
      if (this.headerBytes < headerLength(this.header, this.headerBytes)) continue;
      ok = this.startFrame(chunk.length - at >= payloadLength(this.header) && !reused) && ok;
    }
    return ok;
  }

  /**
   * Where the socket's next read should land: the rest of the message being filled, so the
   * kernel copies the payload straight into it (never past this frame), or else `scratch`.
   */
  nextReadTarget(scratch: Buffer): Buffer {
    return this.message !== null && !this.forwarding ? this.message.subarray(this.filled) : scratch;
  }

  /** `n` payload bytes were read straight into the target nextReadTarget gave. */
  filledDirectly(n: number, bySocket = true): void {
    this.direct ||= bySocket;
    this.filled += n;
    this.remaining -= n;
    if (this.remaining === 0) this.finishMessage();
  }

  /** A whole header is in `this.header`; decides who reads the payload. `inRead`: it is all in this read. */
  private startFrame(inRead: boolean): boolean {
    const h = this.header;
    const size = this.headerBytes;
    const length = payloadLength(h);
    this.headerBytes = 0;
    const fin = (h[0] & 0x80) !== 0;
    const opcode = h[0] & 0x0f;
    if (this.isOurs(h, size, length)) {
      this.forwarding = false;
      this.remaining = length;
      this.filled = 0;
      // A payload inside this read is handed over as a view of it (see payload()).
      this.message = length === 0 || inRead ? null : this.allocate(length);
      if (length === 0) this.opts.onBinary(Buffer.alloc(0));
      return true;
    }
    // ws's: the header now, the payload as it comes. Track fragmentation so that a
    // continuation never reaches this reader's own path.
    if (opcode === 0x1 || opcode === 0x2) this.fragmented = !fin;
    else if (opcode === 0x0 && fin) this.fragmented = false;
    this.remaining = Number.isSafeInteger(length) ? length : Number.MAX_SAFE_INTEGER;
    this.forwarding = this.remaining > 0;
    return this.forward(Buffer.from(h.subarray(0, size)));
  }

  private isOurs(h: Buffer, size: number, length: number): boolean {
    if (this.fragmented) return false;
    if (h[0] !== 0x82) return false; // FIN, no reserved bits, binary
    const masked = (h[1] & 0x80) !== 0;
    if (masked !== this.opts.expectMasked) return false;
    if (masked && h.readUInt32BE(size - 4) !== 0) return false;
    return Number.isSafeInteger(length) && length <= this.opts.maxPayload;
  }

  /** Reads payload bytes of the current frame from `chunk` at `at`; returns the new offset. */
  private payload(chunk: Buffer, at: number, reused: boolean, forward: (bytes: Buffer) => void): number {
    const n = Math.min(this.remaining, chunk.length - at);
    const bytes = chunk.subarray(at, at + n);
    if (this.forwarding) {
      this.remaining -= n;
      forward(reused ? Buffer.from(bytes) : bytes);
      if (this.remaining === 0) this.forwarding = false;
    } else if (this.message === null) {
      this.remaining -= n;
      this.opts.onBinary(bytes); // the whole payload was inside this read, which is not reused
    } else {
      bytes.copy(this.message, this.filled);
      this.filledDirectly(n, false);
    }
    return at + n;
  }

  private finishMessage(): void {
    const message = this.message!;
    this.message = null;
    if (this.direct) this.directMessages++;
    this.direct = false;
    this.opts.onBinary(message, this.recycler(message));
  }

  private allocate(length: number): Buffer {
    const kept = this.spare.get(length)?.pop();
    if (!kept) return Buffer.allocUnsafeSlow(length);
    this.spareBytes -= length;
    this.spareCount--;
    this.reusedBuffers++;
    return kept;
  }

  /** Hands `buf` back once (a second call does nothing), while the spare stays within its bounds. */
  private recycler(buf: Buffer): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.spareBytes + buf.length > SPARE_BYTES || this.spareCount >= SPARE_BUFFERS) return;
      const list = this.spare.get(buf.length);
      if (list) list.push(buf);
      else this.spare.set(buf.length, [buf]);
      this.spareBytes += buf.length;
      this.spareCount++;
    };
  }
}

/** Bytes of a frame header, from what of it has arrived (2 until the length byte is known). */
function headerLength(h: Buffer, have: number): number {
  if (have < 2) return 2;
  const len7 = h[1] & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((h[1] & 0x80) !== 0 ? 4 : 0);
}

/** The payload length the header states (not necessarily a safe integer for a 64-bit length). */
function payloadLength(h: Buffer): number {
  const len7 = h[1] & 0x7f;
  if (len7 === 126) return h.readUInt16BE(2);
  if (len7 === 127) return h.readUInt32BE(2) * 2 ** 32 + h.readUInt32BE(6);
  return len7;
}
