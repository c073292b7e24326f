import { Packr } from 'msgpackr';
import { BulkReceiver, bulkBytes, bulkChunks, bulkIndexOf, chunkBytesFor, type Bulk, type ChunkPiece } from './bulk';
import { decodeFrame, encodeFrame } from './codec';
import { frameFromHeader } from './frame';
import type { WireTensor } from './tensor';

function f32(shape: number[], start: number): WireTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => start + i * 0.5) };
}

/** Odd sizes on purpose: chunks end inside tensors, tensors end inside chunks, one is empty, one is int32. */
function sampleBulk(): Bulk {
  return new Map<string, WireTensor>([
    ['a', f32([3, 5], 0)],
    ['empty', f32([0, 4], 0)],
    ['b', f32([7], 100)],
    ['big', f32([37, 3], 1000)],
    ['ids', { dtype: 'int32', shape: [5], data: Int32Array.from([4, -1, 7, 0, 2 ** 30]) }],
  ]);
}

function receive(bulk: Bulk, pieces: Iterable<ChunkPiece>): Bulk {
  const r = new BulkReceiver(bulkIndexOf(bulk), 'test');
  for (const p of pieces) r.accept(p);
  return r.take();
}

describe('bulk streams', () => {
  it.each([4, 8, 12, 60, 64, 400, 1 << 20])('round-trips every tensor exactly in chunks of %i bytes', (chunkBytes) => {
    const bulk = sampleBulk();
    const pieces = [...bulkChunks(bulk, chunkBytes)];
    expect(pieces.every((p) => p.bytes.byteLength <= chunkBytes)).toBe(true);
    expect(pieces.map((p) => p.seq)).toEqual(pieces.map((_, i) => i));
    expect(pieces.filter((p) => p.last)).toHaveLength(1);
    expect(pieces.reduce((a, p) => a + p.bytes.byteLength, 0)).toBe(bulkBytes(bulkIndexOf(bulk)));
    const back = receive(bulk, pieces);
    expect([...back.keys()]).toEqual([...bulk.keys()]);
    for (const [name, t] of bulk) {
      expect(back.get(name)!.dtype).toBe(t.dtype);
      expect(back.get(name)!.shape).toEqual(t.shape);
      expect(Array.from(back.get(name)!.data)).toEqual(Array.from(t.data));
    }
  });

  it('moves one tensor larger than a chunk (and larger than many) through encoded frames', () => {
    const bulk: Bulk = new Map([['w', f32([1001, 3], -7)]]);
    const r = new BulkReceiver(bulkIndexOf(bulk), 'test');
    for (const p of bulkChunks(bulk, 256)) {
      const frame = encodeFrame({ t: 'result-chunk', jobId: 'j', ...p });
      expect(frame.byteLength).toBeLessThan(256 + 80); // preamble, header and padding
      const msg = decodeFrame(frame, 'worker-to-coordinator');
      if (msg.t !== 'result-chunk') throw new Error(msg.t);
      r.accept(msg);
    }
    expect(Array.from(r.take().get('w')!.data)).toEqual(Array.from(bulk.get('w')!.data));
  });

  it('an empty stream is one empty last chunk', () => {
    const pieces = [...bulkChunks(new Map(), 16)];
    expect(pieces).toEqual([{ seq: 0, bytes: new Uint8Array(0), last: true }]);
    expect(receive(new Map(), pieces).size).toBe(0);
  });

  const broken: Array<[string, (p: ChunkPiece[]) => ChunkPiece[], RegExp]> = [
    ['a repeated chunk', (p) => [p[0], p[1], p[1], ...p.slice(2)], /chunk 1 arrived twice/],
    ['a skipped chunk', (p) => [p[0], ...p.slice(2)], /chunk 2 arrived where chunk 1 was due/],
    ['a stream that stops half way', (p) => [...p.slice(0, 3), { ...p[3], last: true }], /ended after \d+ of the announced \d+ bytes/],
    ['more bytes than announced', (p) => [...p.slice(0, -1), { ...p[p.length - 1], bytes: new Uint8Array(p[p.length - 1].bytes.byteLength + 4) }], /only \d+ of the announced/],
    ['a chunk after the last', (p) => [...p, { seq: p.length, bytes: new Uint8Array(4), last: true }], /after the last one/],
  ];

  it.each(broken)('refuses %s with BAD_STREAM and hands over nothing', (_, mangle, message) => {
    const bulk = sampleBulk();
    const r = new BulkReceiver(bulkIndexOf(bulk), 'rank 1');
    let error: unknown = null;
    try {
      for (const p of mangle([...bulkChunks(bulk, 40)])) r.accept(p);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'BAD_STREAM', message: expect.stringMatching(message) });
    expect(() => r.take()).toThrow(expect.objectContaining({ code: 'BAD_STREAM' }));
  });

  it('allocates a tensor only when its bytes arrive (an index that claims 1 TiB costs what was sent)', () => {
    const r = new BulkReceiver([{ name: 'small', dtype: 'float32', shape: [2] }, { name: 'huge', dtype: 'float32', shape: [2 ** 38] }], 'liar');
    expect(r.accept({ seq: 0, bytes: new Uint8Array(8), last: false })).toBe(false);
    expect(() => r.accept({ seq: 1, bytes: new Uint8Array(0), last: true })).toThrow(expect.objectContaining({ code: 'BAD_STREAM' }));
  });

  it('the frame validator refuses an index over the byte limit, duplicate names, and chunks with missing fields', () => {
    const job = (bulk: unknown) => encodeFrameRaw({ t: 'job', jobId: 'j', kind: 'set-state', params: {}, tensors: [], bulk });
    expect(() => decodeFrame(job([{ name: 'x', dtype: 'float32', shape: [2 ** 40] }]), 'coordinator-to-worker')).toThrow(expect.objectContaining({ code: 'BAD_FRAME', details: expect.objectContaining({ path: 'bulk[0].shape' }) }));
    expect(() => decodeFrame(job([{ name: 'x', dtype: 'float32', shape: [1] }, { name: 'x', dtype: 'float32', shape: [1] }]), 'coordinator-to-worker')).toThrow(expect.objectContaining({ code: 'BAD_FRAME', details: expect.objectContaining({ path: 'bulk[1].name' }) }));
    expect(() => decodeFrame(encodeFrameRaw({ t: 'job-chunk', jobId: 'j', seq: 0, offset: 0, length: 4 }, [new Uint8Array(4)]), 'coordinator-to-worker')).toThrow(expect.objectContaining({ code: 'BAD_FRAME', details: expect.objectContaining({ path: 'last' }) }));
    expect(() => decodeFrame(encodeFrameRaw({ t: 'result-chunk', jobId: 'j', seq: -1, offset: 0, length: 4, last: true }, [new Uint8Array(4)]), 'worker-to-coordinator')).toThrow(expect.objectContaining({ code: 'BAD_FRAME', details: expect.objectContaining({ path: 'seq' }) }));
  });

  it('chunk size fits the frame limit', () => {
    expect(chunkBytesFor(16 * 2 ** 20)).toBeLessThanOrEqual(16 * 2 ** 20 - 4096);
    expect(chunkBytesFor(2 ** 31 - 1)).toBe(16 * 2 ** 20);
    expect(chunkBytesFor(16 * 2 ** 20) % 4).toBe(0);
  });
});

/** A frame around an arbitrary header value, bypassing the sender's own validation (what a hostile peer sends). */
function encodeFrameRaw(value: unknown, payloads: Uint8Array[] = []): Uint8Array {
  return frameFromHeader(new Packr({ useRecords: false, moreTypes: false }).pack(value), payloads);
}
