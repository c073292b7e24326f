import { RingtrainError } from '@ringtrain/core';
import type { TensorIndexEntry } from './messages';
import { BYTES_PER_ELEMENT, elementCount, type WireTensor } from './tensor';

/**
 * Bulk state (parameters, gradients, optimizer state) is too big for one frame and has too many
 * tensors. It travels as a stream: the header frame (`job` or `result`) announces an index of
 * tensors, then chunk frames carry the concatenation of their little-endian bytes in index
 * order, `chunkBytes` at a time, numbered from 0, the last one flagged. Neither end holds more
 * than one chunk beyond the tensors themselves.
 */
export type Bulk = Map<string, WireTensor>;

export interface ChunkPiece {
  seq: number;
  bytes: Uint8Array;
  last: boolean;
}

export function bulkIndexOf(bulk: Bulk): TensorIndexEntry[] {
  return [...bulk].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] }));
}

export function bulkBytes(index: readonly TensorIndexEntry[]): number {
  return index.reduce((a, e) => a + elementCount(e.shape) * BYTES_PER_ELEMENT, 0);
}

/**
 * The chunks of a bulk stream. A chunk inside one tensor is a view of its memory (no copy); one
 * that spans tensors is assembled in a fresh buffer of at most chunkBytes. Always at least one
 * chunk (an empty stream is one empty last chunk).
 */
export function* bulkChunks(bulk: Bulk, chunkBytes: number): Generator<ChunkPiece> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < BYTES_PER_ELEMENT) {
    throw new RingtrainError('BAD_OPTION', `chunk size ${chunkBytes} bytes is too small`, { hint: `use at least ${BYTES_PER_ELEMENT} bytes` });
  }
  const views = [...bulk.values()].map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  const total = views.reduce((a, v) => a + v.byteLength, 0);
  let seq = 0;
  let tensor = 0;
  let within = 0;
  let sent = 0;
  do {
    const size = Math.min(chunkBytes, total - sent);
    while (tensor < views.length && within === views[tensor].byteLength) {
      tensor++;
      within = 0;
    }
    let bytes: Uint8Array;
    if (size === 0) bytes = new Uint8Array(0);
    else if (views[tensor].byteLength - within >= size) {
      bytes = views[tensor].subarray(within, within + size);
      within += size;
    } else {
      bytes = new Uint8Array(size);
      for (let filled = 0; filled < size; ) {
        while (within === views[tensor].byteLength) {
          tensor++;
          within = 0;
        }
        const n = Math.min(size - filled, views[tensor].byteLength - within);
        bytes.set(views[tensor].subarray(within, within + n), filled);
        filled += n;
        within += n;
      }
    }
    sent += size;
    yield { seq: seq++, bytes, last: sent === total };
  } while (sent < total);
}

/**
 * Rebuilds the tensors of one stream from its chunks, checking that they come in order, none is
 * missing or repeated, and that they add up to exactly the announced bytes. A tensor's memory
 * is allocated when its first byte arrives, so a stream that announces more than it sends costs
 * only what it sent. `take()` hands the tensors over only once the stream is complete.
 */
export class BulkReceiver {
  private readonly total: number;
  private readonly ends: number[];
  private readonly arrays: Array<Float32Array | Int32Array | null>;
  private received = 0;
  private nextSeq = 0;
  private done = false;
  /** Set by the first bad chunk: a broken stream hands over nothing. */
  private broken: RingtrainError | null = null;

  constructor(
    private readonly index: readonly TensorIndexEntry[],
    /** Who sends, for error messages ("job train-step-3 from rank 1"). */
    private readonly from: string,
  ) {
    let end = 0;
    this.ends = index.map((e) => (end += elementCount(e.shape) * BYTES_PER_ELEMENT));
    this.total = end;
    this.arrays = index.map(() => null);
  }

  get complete(): boolean {
    return this.done;
  }

  /** Adds one chunk; returns true when it completed the stream. Throws BAD_STREAM on any gap, repeat or overrun. */
  accept(piece: ChunkPiece): boolean {
    try {
      return this.acceptChunk(piece);
    } catch (err) {
      this.broken ??= err instanceof RingtrainError ? err : this.bad(String(err), 'the stream is unusable');
      throw err;
    }
  }

  private acceptChunk(piece: ChunkPiece): boolean {
    if (this.broken) throw this.broken;
    if (this.done) throw this.bad(`chunk ${piece.seq} arrived after the last one`, 'a stream ends at its last chunk');
    if (piece.seq !== this.nextSeq) {
      throw this.bad(piece.seq < this.nextSeq ? `chunk ${piece.seq} arrived twice` : `chunk ${piece.seq} arrived where chunk ${this.nextSeq} was due`, 'chunks must arrive once each, in order');
    }
    if (piece.bytes.byteLength > this.total - this.received) {
      throw this.bad(`chunk ${piece.seq} brings ${piece.bytes.byteLength} bytes, but only ${this.total - this.received} of the announced ${this.total} are left`, 'the index and the data disagree');
    }
    this.nextSeq++;
    this.write(piece.bytes);
    if (piece.last) {
      if (this.received !== this.total) {
        throw this.bad(`the stream ended after ${this.received} of the announced ${this.total} bytes`, 'the sender stopped half way');
      }
      this.done = true;
    }
    return this.done;
  }

  /** The received tensors, in index order; only after the last chunk. */
  take(): Bulk {
    if (this.broken) throw this.broken;
    if (!this.done) throw this.bad(`the stream is incomplete (${this.received} of ${this.total} bytes)`, 'wait for the last chunk');
    const out: Bulk = new Map();
    this.index.forEach((e, i) => {
      const data = this.arrays[i] ?? this.allocate(i); // empty tensors get no bytes, hence no array yet
      out.set(e.name, data instanceof Float32Array ? { dtype: 'float32', shape: [...e.shape], data } : { dtype: 'int32', shape: [...e.shape], data });
    });
    return out;
  }

  private write(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      const i = this.tensorAt(this.received);
      const start = i === 0 ? 0 : this.ends[i - 1];
      const n = Math.min(bytes.byteLength - at, this.ends[i] - this.received);
      const target = this.arrays[i] ?? (this.arrays[i] = this.allocate(i));
      new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(bytes.subarray(at, at + n), this.received - start);
      at += n;
      this.received += n;
    }
  }

  /** The tensor holding stream byte `offset` (skipping empty tensors). */
  private tensorAt(offset: number): number {
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private allocate(i: number): Float32Array | Int32Array {
    const e = this.index[i];
    const count = elementCount(e.shape);
    try {
      return e.dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
    } catch (err) {
      throw new RingtrainError('OUT_OF_MEMORY', `cannot allocate ${count * BYTES_PER_ELEMENT} bytes for tensor "${e.name}" from ${this.from}: ${(err as Error).message}`, {
        hint: 'the state is larger than this process can hold',
      });
    }
  }

  private bad(problem: string, hint: string): RingtrainError {
    return new RingtrainError('BAD_STREAM', `bulk stream of ${this.from}: ${problem}`, { hint, details: { from: this.from } });
  }
}

/** Sends a bulk stream one chunk at a time, each awaited, so the sender holds one chunk beyond the tensors. */
export async function streamBulk(bulk: Bulk, chunkBytes: number, send: (piece: ChunkPiece) => Promise<unknown>): Promise<void> {
  for (const piece of bulkChunks(bulk, chunkBytes)) await send(piece);
}

/** Frame overhead kept free beside a chunk's bytes (msgpack map, jobId, seq). */
export const CHUNK_FRAME_OVERHEAD_BYTES = 4096;
/** Default chunk size of bulk streams. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/** The chunk size to use under a frame limit: the default, or what fits one frame. */
export function chunkBytesFor(maxFrameBytes: number, wanted = DEFAULT_CHUNK_BYTES): number {
  const fit = Math.floor((maxFrameBytes - CHUNK_FRAME_OVERHEAD_BYTES) / BYTES_PER_ELEMENT) * BYTES_PER_ELEMENT;
  return Math.max(BYTES_PER_ELEMENT, Math.min(wanted, fit));
}
