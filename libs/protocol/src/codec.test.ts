import { isRingtrainError, type RingtrainError } from '@ringtrain/core';
import { pack } from 'msgpackr';
import { decodeFrame, encodeFrame, encodeFramePieces } from './codec';
import { PREAMBLE_BYTES, frameFromHeader } from './frame';
import { DEFAULT_FRAME_LIMITS } from './limits';
import type { CoordinatorToWorkerMsg, DataMsg, Direction, Msg, PeerMsg, WorkerToCoordinatorMsg } from './messages';
import { tensorFromFrame, tensorsFromFrames, tensorsToFrames, type TensorFrame } from './tensor';
import { PROTOCOL_VERSION } from './version';

function f32Frame(name: string, shape: number[], fill = (i: number) => i * 0.5 - 3): TensorFrame {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => fill(i));
  return tensorsToFrames({ [name]: { dtype: 'float32', shape, data } })[0];
}

function roundTrip<D extends Direction>(msg: Msg, direction: D): unknown {
  return decodeFrame(encodeFrame(msg), direction);
}

/** Buffer and Uint8Array compare unequal in jest; compare their bytes. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bin: Array.from(v) };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * A frame around an arbitrary header value (and payloads), the way a hostile or buggy peer might
 * send it, bypassing encodeFrame's checks.
 */
function raw(value: unknown, payloads: Uint8Array[] = []): Buffer {
  return frameFromHeader(pack(value), payloads);
}

function badFrame(buf: Uint8Array, direction: Direction): RingtrainError {
  try {
    decodeFrame(buf, direction);
  } catch (e) {
    if (isRingtrainError(e)) return e;
    throw e;
  }
  throw new Error('decodeFrame accepted the frame');
}

const hello = { t: 'hello', v: PROTOCOL_VERSION, rank: 1, worldSize: 3 };
/** A tensor as a header names it, and a data header with it (its 24 payload bytes: `raw(data, [bytes24])`). */
const goodTensor = { name: 'k', dtype: 'float32', shape: [2, 3], offset: 0, length: 24 };
const bytes24 = new Uint8Array(24);
const data = { t: 'data', tag: 'attn.fwd.0.kv', tensors: [goodTensor] };

describe('round trips', () => {
  test('peer messages', () => {
    expect(roundTrip(hello as PeerMsg, 'peer')).toEqual(hello);
    const msg: DataMsg = {
      t: 'data',
      tag: 'attn.fwd.3.kv',
      tensors: [
        f32Frame('k', [3, 5, 7]),
        f32Frame('empty', [0, 4]),
        tensorsToFrames({ pos: { dtype: 'int32', shape: [5], data: Int32Array.from([0, 7, -3, 2 ** 31 - 1, -(2 ** 31)]) } })[0],
      ],
      meta: { src: 2, hop: 1, ok: true, note: 'x', frac: 0.25 },
    };
    const back = roundTrip(msg, 'peer') as DataMsg;
    expect(back.tag).toBe(msg.tag);
    expect(back.meta).toEqual(msg.meta);
    const t = tensorsFromFrames(back.tensors);
    expect(Object.keys(t)).toEqual(['k', 'empty', 'pos']);
    expect(t.k.shape).toEqual([3, 5, 7]);
    expect(Array.from(t.k.data)).toEqual(Array.from(tensorFromFrame(msg.tensors[0]).data));
    expect(t.empty.data).toBeInstanceOf(Float32Array);
    expect(t.empty.data.length).toBe(0);
    expect(t.pos.data).toBeInstanceOf(Int32Array);
    expect(Array.from(t.pos.data)).toEqual([0, 7, -3, 2 ** 31 - 1, -(2 ** 31)]);
  });

  test('data without meta has no meta key', () => {
    const back = roundTrip({ t: 'data', tag: 'x', tensors: [], meta: undefined }, 'peer');
    expect(back).toEqual({ t: 'data', tag: 'x', tensors: [] });
    expect(Object.keys(back as object)).not.toContain('meta');
  });

  test('worker to coordinator messages', () => {
    const msgs: WorkerToCoordinatorMsg[] = [
      { t: 'register', v: PROTOCOL_VERSION, rank: null, host: '10.0.0.7', dataPort: 41234, pid: 4242 },
      { t: 'register', v: PROTOCOL_VERSION, rank: 3, host: 'node-3', dataPort: 1, pid: 0 },
      { t: 'register', v: PROTOCOL_VERSION, rank: 1, host: 'node-1', dataPort: 29600, pid: 7, worldSize: 4, job: '4711' },
      { t: 'ready', rank: 3 },
      { t: 'result', jobId: 'step-12', tensors: [f32Frame('loss', [1])], meta: { tokens: 4096, ms: 12.5 } },
      { t: 'failed', jobId: null, code: 'PEER_DEAD', message: 'rank 2 stopped answering' },
      { t: 'failed', jobId: 'step-12', code: 'NAN_LOSS', message: '' },
    ];
    for (const m of msgs) expect(plain(roundTrip(m, 'worker-to-coordinator'))).toEqual(plain(m));
  });

  test('coordinator to worker messages', () => {
    const msgs: CoordinatorToWorkerMsg[] = [
      {
        t: 'world',
        rank: 1,
        worldSize: 3,
        peers: [
          { rank: 0, host: '127.0.0.1', port: 5000 },
          { rank: 1, host: '127.0.0.1', port: 5001 },
          { rank: 2, host: '::1', port: 5002 },
        ],
      },
      {
        t: 'job',
        jobId: 'j1',
        kind: 'train-step',
        params: { lr: 3e-4, steps: [1, 2, 3], model: { layers: 2, name: 'tiny', tied: true, dropout: null }, big: 2 ** 40 },
        tensors: [f32Frame('tokens', [7]), tensorsToFrames({ pos: { dtype: 'int32', shape: [7], data: new Int32Array(7) } })[0]],
      },
      { t: 'shutdown', reason: 'run finished' },
      { t: 'shutdown', reason: 'rank 1 lost', rejoin: true },
    ];
    for (const m of msgs) expect(plain(roundTrip(m, 'coordinator-to-worker'))).toEqual(plain(m));
  });
});

describe('tensor bytes', () => {
  test('travel raw and little-endian after the header, each 4-byte aligned in the frame', () => {
    const data = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i));
    const frame = encodeFrame({ t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [1001], data } }) });
    const payload = Buffer.from(data.buffer);
    const headerBytes = frame.readUInt32LE(4);
    const payloadAt = Math.ceil((PREAMBLE_BYTES + headerBytes) / 4) * 4;
    expect(frame.subarray(0, 4)).toEqual(Buffer.from([0xc1, PROTOCOL_VERSION, 0, 0]));
    expect(headerBytes).toBeLessThan(96); // keys, name, shape, offset, length
    expect(frame.indexOf(payload)).toBe(payloadAt);
    expect(frame.length).toBe(payloadAt + 4004);
  });

  test('every dtype and odd sizes round-trip, each payload at a 4-byte aligned offset', () => {
    const tensors = {
      a: { dtype: 'float32' as const, shape: [1], data: new Float32Array([Math.PI]) },
      b: { dtype: 'int32' as const, shape: [3, 1], data: Int32Array.from([-1, 2 ** 31 - 1, -(2 ** 31)]) },
      empty: { dtype: 'float32' as const, shape: [2, 0, 5], data: new Float32Array(0) },
      c: { dtype: 'float32' as const, shape: [7, 3, 5], data: Float32Array.from({ length: 105 }, (_, i) => (i % 13) - 6.25) },
      d: { dtype: 'int32' as const, shape: [1, 1, 1, 1, 1, 1, 1, 1], data: new Int32Array([42]) },
      nan: { dtype: 'float32' as const, shape: [4], data: new Float32Array([NaN, Infinity, -Infinity, -0]) },
    };
    for (const tag of ['t', 'a-tag-of-odd-length', 'x'.repeat(256)]) {
      const frame = encodeFrame({ t: 'data', tag, tensors: tensorsToFrames(tensors) });
      const back = decodeFrame(frame, 'peer') as DataMsg;
      for (const t of back.tensors) expect((t.bytes.byteOffset - frame.byteOffset) % 4).toBe(0);
      const got = tensorsFromFrames(back.tensors);
      expect(Object.keys(got)).toEqual(Object.keys(tensors));
      for (const [name, t] of Object.entries(tensors)) {
        expect(got[name].dtype).toBe(t.dtype);
        expect(got[name].shape).toEqual(t.shape);
        expect(got[name].data).toBeInstanceOf(t.dtype === 'float32' ? Float32Array : Int32Array);
        expect(Buffer.from(got[name].data.buffer, got[name].data.byteOffset, got[name].data.byteLength)).toEqual(Buffer.from(t.data.buffer));
      }
    }
  });

  test('chunk payloads of any length are padded to 4 bytes', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 7, 4097]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);
      const frame = encodeFrame({ t: 'job-chunk', jobId: 'j', seq: 3, bytes, last: n % 2 === 0 });
      expect(frame.length % 4).toBe(0);
      const back = decodeFrame(frame, 'coordinator-to-worker');
      expect(plain(back)).toEqual(plain({ t: 'job-chunk', jobId: 'j', seq: 3, bytes, last: n % 2 === 0 }));
    }
  });

  test('decoded tensors view the frame when it starts aligned and copy once when not', () => {
    const data = Float32Array.from({ length: 64 }, (_, i) => i);
    const encoded = encodeFrame({ t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [64], data } }) });
    for (const shift of [0, 1, 2, 3]) {
      const holder = Buffer.alloc(shift + encoded.length + 8);
      encoded.copy(holder, shift);
      const buf = holder.subarray(shift, shift + encoded.length);
      const t = tensorsFromFrames((decodeFrame(buf, 'peer') as DataMsg).tensors).x;
      expect(Array.from(t.data)).toEqual(Array.from(data));
      expect(t.data.buffer === holder.buffer).toBe((holder.byteOffset + shift) % 4 === 0);
    }
  });

  test('the encoder hands out the tensors own memory, not a copy; the joined frame is a copy', () => {
    const data = new Float32Array([1, 2, 3]);
    const msg: DataMsg = { t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [3], data } }) };
    const { pieces, byteLength } = encodeFramePieces(msg);
    expect(pieces.some((p) => p.buffer === data.buffer && p.byteOffset === data.byteOffset && p.byteLength === 12)).toBe(true);
    expect(pieces.reduce((a, p) => a + p.byteLength, 0)).toBe(byteLength);
    const joined = encodeFrame(msg);
    data.fill(0);
    expect(Array.from(tensorsFromFrames((decodeFrame(joined, 'peer') as DataMsg).tensors).x.data)).toEqual([1, 2, 3]);
  });

  test('headers share one reused encode buffer, and one held by a socket is never overwritten', () => {
    const tensors = tensorsToFrames({ x: { dtype: 'int32', shape: [2], data: new Int32Array([5, 6]) } });
    const first = encodeFramePieces({ t: 'data', tag: 'first', tensors });
    const firstHead = Buffer.from(first.pieces[0]);
    const later = Array.from({ length: 200 }, (_, i) => encodeFramePieces({ t: 'data', tag: `later-${i}`, tensors }));
    expect(Buffer.from(first.pieces[0])).toEqual(firstHead);
    expect(new Set(later.map((f) => f.pieces[0].buffer)).size).toBeLessThanOrEqual(8); // a few 8 KiB buffers, not one per header
    expect((decodeFrame(Buffer.concat(first.pieces as Uint8Array[]), 'peer') as DataMsg).tag).toBe('first');
  });

  test('a frame above 1 MiB round-trips and later frames are unaffected', () => {
    const big = Float32Array.from({ length: 600_000 }, (_, i) => i);
    const first = encodeFrame({ t: 'data', tag: 'big', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [600_000], data: big } }) });
    const second = encodeFrame({ t: 'data', tag: 'small', tensors: [] });
    expect((decodeFrame(second, 'peer') as DataMsg).tag).toBe('small');
    const back = tensorsFromFrames((decodeFrame(first, 'peer') as DataMsg).tensors).x.data;
    expect(back[599_999]).toBe(599_999);
  });

  test('tensorsToFrames refuses data that disagrees with dtype or shape', () => {
    expect(() => tensorsToFrames({ x: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      expect.objectContaining({ code: 'BAD_TENSOR' }),
    );
    expect(() => tensorsToFrames({ x: { dtype: 'int32', shape: [2], data: new Float32Array(2) as unknown as Int32Array } })).toThrow(
      expect.objectContaining({ code: 'BAD_TENSOR' }),
    );
  });
});

describe('decodeFrame rejects with BAD_FRAME', () => {
  const valid = raw(data, [bytes24]);
  /** The valid data frame with its bytes from `at` replaced. */
  const patched = (at: number, ...bytes: number[]) => {
    const b = Buffer.from(valid);
    b.set(bytes, at);
    return b;
  };
  const headerOnly = (header: Uint8Array) => frameFromHeader(header);
  const cases: Array<[string, Uint8Array, Direction, string | undefined]> = [
    // preamble and layout
    ['random bytes', Buffer.from('c1ffee00deadbeef', 'hex'), 'peer', 'preamble.version'],
    ['empty frame', Buffer.alloc(0), 'peer', 'preamble'],
    ['shorter than the preamble', valid.subarray(0, 7), 'peer', 'preamble'],
    ['a plain msgpack map (protocol 2)', pack(hello), 'peer', 'preamble.marker'],
    ['another marker', patched(0, 0x00), 'peer', 'preamble.marker'],
    ['another protocol version', patched(1, PROTOCOL_VERSION + 1), 'peer', 'preamble.version'],
    ['reserved bytes set', patched(2, 1), 'peer', 'preamble.reserved'],
    ['a header length of 0', patched(4, 0, 0, 0, 0), 'peer', 'preamble.headerBytes'],
    ['a header length beyond the frame', patched(4, 0xff, 0xff, 0xff, 0x7f), 'peer', 'preamble.headerBytes'],
    ['a truncated frame', valid.subarray(0, valid.length - 4), 'peer', 'tensors[0].length'],
    ['trailing bytes after the last payload', Buffer.concat([valid, Buffer.alloc(4)]), 'peer', 'payloads'],
    ['trailing bytes after a header without payloads', Buffer.concat([raw(hello), Buffer.alloc(4)]), 'peer', 'payloads'],
    ['a header that is not msgpack', headerOnly(Buffer.from('c1ffee00', 'hex')), 'peer', undefined],
    ['a truncated header', headerOnly(pack(data).subarray(0, 20)), 'peer', undefined],
    ['bytes after the header map', headerOnly(Buffer.concat([pack(hello), Buffer.from([0])])), 'peer', undefined],
    ['nonzero padding after the header', (() => {
      const f = Buffer.from(raw({ ...hello, t: 'hello' }));
      const end = PREAMBLE_BYTES + f.readUInt32LE(4);
      if (end % 4 === 0) throw new Error('test needs a header that needs padding');
      f[end] = 1;
      return f;
    })(), 'peer', 'padding'],
    // payload references
    ['a payload offset that skips bytes', raw({ ...data, tensors: [{ ...goodTensor, offset: 4 }] }, [new Uint8Array(28)]), 'peer', 'tensors[0].offset'],
    ['a misaligned payload offset', raw({ ...data, tensors: [{ ...goodTensor, offset: 1 }] }, [bytes24]), 'peer', 'tensors[0].offset'],
    ['a negative payload offset', raw({ ...data, tensors: [{ ...goodTensor, offset: -4 }] }, [bytes24]), 'peer', 'tensors[0].offset'],
    ['an offset that is not a number', raw({ ...data, tensors: [{ ...goodTensor, offset: '0' }] }, [bytes24]), 'peer', 'tensors[0].offset'],
    ['two tensors on the same bytes', raw({ ...data, tensors: [goodTensor, { ...goodTensor, name: 'v' }] }, [bytes24]), 'peer', 'tensors[1].offset'],
    ['a payload length beyond the frame', raw({ ...data, tensors: [{ ...goodTensor, length: 28 }] }, [bytes24]), 'peer', 'tensors[0].length'],
    ['a huge payload length', raw({ ...data, tensors: [{ ...goodTensor, length: 2 ** 40 }] }, [bytes24]), 'peer', 'tensors[0].length'],
    ['a negative payload length', raw({ ...data, tensors: [{ ...goodTensor, length: -24 }] }, [bytes24]), 'peer', 'tensors[0].length'],
    ['a fractional payload length', raw({ ...data, tensors: [{ ...goodTensor, length: 23.5 }] }, [bytes24]), 'peer', 'tensors[0].length'],
    ['a payload without its padding', (() => {
      const f = raw({ t: 'job-chunk', jobId: 'j', seq: 0, offset: 0, length: 5, last: true }, [new Uint8Array(5)]);
      return f.subarray(0, f.length - 3);
    })(), 'coordinator-to-worker', 'length'],
    ['nonzero payload padding', (() => {
      const f = Buffer.from(raw({ t: 'job-chunk', jobId: 'j', seq: 0, offset: 0, length: 5, last: true }, [new Uint8Array(5)]));
      f[f.length - 1] = 9;
      return f;
    })(), 'coordinator-to-worker', 'padding'],
    ['a payload nobody names', raw(data, [bytes24, new Uint8Array(8)]), 'peer', 'payloads'],
    ['inline tensor bytes (protocol 2 style)', raw({ ...data, tensors: [{ name: 'k', dtype: 'float32', shape: [2, 3], bytes: bytes24 }] }), 'peer', 'tensors[0].offset'],
    ['inline chunk bytes (protocol 2 style)', raw({ t: 'job-chunk', jobId: 'j', seq: 0, bytes: new Uint8Array(4), last: true }), 'coordinator-to-worker', 'offset'],
    ['a tensor with both a reference and inline bytes', raw({ ...data, tensors: [{ ...goodTensor, bytes: bytes24 }] }, [bytes24]), 'peer', 'tensors[0].bytes'],
    // the message
    ['a number', raw(42), 'peer', ''],
    ['an array', raw([hello]), 'peer', ''],
    ['a string', raw('hello'), 'peer', ''],
    ['unknown t', raw({ ...hello, t: 'gossip' }), 'peer', 't'],
    ['missing t', raw({ rank: 1 }), 'peer', 't'],
    ['a frame of another direction', raw({ t: 'shutdown', reason: 'x' }), 'peer', 't'],
    ['a peer frame on the control plane', raw(hello), 'coordinator-to-worker', 't'],
    ['wrong protocol version', raw({ ...hello, v: PROTOCOL_VERSION + 1 }), 'peer', 'v'],
    ['missing field', raw({ t: 'hello', v: PROTOCOL_VERSION, rank: 1 }), 'peer', 'worldSize'],
    ['extra field', raw({ ...hello, colour: 'blue' }), 'peer', 'colour'],
    ['ill-typed field', raw({ ...hello, rank: '1' }), 'peer', 'rank'],
    ['fractional rank', raw({ ...hello, rank: 1.5 }), 'peer', 'rank'],
    ['rank outside the world', raw({ ...hello, rank: 3 }), 'peer', 'rank'],
    ['world size 0', raw({ ...hello, rank: 0, worldSize: 0 }), 'peer', 'worldSize'],
    ['empty tag', raw({ ...data, tag: '' }, [bytes24]), 'peer', 'tag'],
    ['tag longer than 256 chars', raw({ ...data, tag: 'x'.repeat(257) }, [bytes24]), 'peer', 'tag'],
    ['more than 64 tensors', raw({ ...data, tensors: Array.from({ length: 65 }, (_, i) => ({ ...goodTensor, name: `t${i}`, offset: 24 * i })) }, Array.from({ length: 65 }, () => bytes24)), 'peer', 'tensors'],
    ['tensors not an array', raw({ ...data, tensors: { k: goodTensor } }, [bytes24]), 'peer', 'tensors'],
    ['unknown dtype', raw({ ...data, tensors: [{ ...goodTensor, dtype: 'float16' }] }, [bytes24]), 'peer', 'tensors[0].dtype'],
    ['negative dim', raw({ ...data, tensors: [{ ...goodTensor, shape: [-2, -3] }] }, [bytes24]), 'peer', 'tensors[0].shape[0]'],
    ['fractional dim', raw({ ...data, tensors: [{ ...goodTensor, shape: [1.5, 4] }] }, [bytes24]), 'peer', 'tensors[0].shape[0]'],
    ['too many dims', raw({ ...data, tensors: [{ ...goodTensor, shape: [1, 1, 1, 1, 1, 1, 1, 1, 6] }] }, [bytes24]), 'peer', 'tensors[0].shape'],
    ['byte length != product(shape) * 4', raw({ ...data, tensors: [{ ...goodTensor, length: 20 }] }, [new Uint8Array(20)]), 'peer', 'tensors[0].length'],
    ['byte length not a multiple of 4', raw({ ...data, tensors: [{ ...goodTensor, shape: [1], length: 5 }] }, [new Uint8Array(5)]), 'peer', 'tensors[0].length'],
    ['overflowing shape', raw({ ...data, tensors: [{ ...goodTensor, shape: [2 ** 40, 2 ** 40, 2 ** 40], length: 0 }] }), 'peer', 'tensors[0].length'],
    ['zero dim with bytes', raw({ ...data, tensors: [{ ...goodTensor, shape: [0, 3], length: 4 }] }, [new Uint8Array(4)]), 'peer', 'tensors[0].length'],
    ['duplicate tensor names', raw({ ...data, tensors: [goodTensor, { ...goodTensor, offset: 24 }] }, [bytes24, bytes24]), 'peer', 'tensors[1].name'],
    ['meta with a nested value', raw({ ...data, meta: { a: { b: 1 } } }, [bytes24]), 'peer', 'meta.a'],
    ['meta with too many entries', raw({ ...data, meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }, [bytes24]), 'peer', 'meta'],
    ['register with a port out of range', raw({ t: 'register', v: PROTOCOL_VERSION, rank: null, host: 'h', dataPort: 70000, pid: 1 }), 'worker-to-coordinator', 'dataPort'],
    ['register with a world size of 0', raw({ t: 'register', v: PROTOCOL_VERSION, rank: null, host: 'h', dataPort: 7000, pid: 1, worldSize: 0 }), 'worker-to-coordinator', 'worldSize'],
    ['shutdown with a non-boolean rejoin', raw({ t: 'shutdown', reason: 'x', rejoin: 1 }), 'coordinator-to-worker', 'rejoin'],
    ['register without version', raw({ t: 'register', rank: null, host: 'h', dataPort: 7000, pid: 1 }), 'worker-to-coordinator', 'v'],
    ['failed with a numeric code', raw({ t: 'failed', jobId: null, code: 7, message: '' }), 'worker-to-coordinator', 'code'],
    ['result without meta', raw({ t: 'result', jobId: 'j', tensors: [] }), 'worker-to-coordinator', 'meta'],
    ['world listing a rank twice', raw({ t: 'world', rank: 0, worldSize: 2, peers: [{ rank: 1, host: 'a', port: 1 }, { rank: 1, host: 'b', port: 2 }] }), 'coordinator-to-worker', 'peers[1].rank'],
    ['world with a peer outside it', raw({ t: 'world', rank: 0, worldSize: 2, peers: [{ rank: 2, host: 'a', port: 1 }] }), 'coordinator-to-worker', 'peers[0].rank'],
    ['job params with binary', raw({ t: 'job', jobId: 'j', kind: 'k', params: { blob: new Uint8Array(4) }, tensors: [] }), 'coordinator-to-worker', 'params.blob'],
    ['job params with NaN', raw({ t: 'job', jobId: 'j', kind: 'k', params: { lr: NaN }, tensors: [] }), 'coordinator-to-worker', 'params.lr'],
    ['job params as an array', raw({ t: 'job', jobId: 'j', kind: 'k', params: [1], tensors: [] }), 'coordinator-to-worker', 'params'],
  ];

  test('the valid frame the cases start from decodes', () => {
    expect(plain(decodeFrame(valid, 'peer'))).toEqual(plain({ ...data, tensors: [{ name: 'k', dtype: 'float32', shape: [2, 3], bytes: bytes24 }] }));
  });

  test.each(cases)('%s', (_name, buf, direction, path) => {
    const e = badFrame(buf, direction);
    expect(e.code).toBe('BAD_FRAME');
    expect(e.details?.direction).toBe(direction);
    if (path !== undefined) expect(e.details?.path).toBe(path);
  });

  test('deeply nested params', () => {
    let params: unknown = 1;
    for (let i = 0; i < DEFAULT_FRAME_LIMITS.maxParamsDepth + 2; i++) params = { p: params };
    const e = badFrame(raw({ t: 'job', jobId: 'j', kind: 'k', params, tensors: [] }), 'coordinator-to-worker');
    expect(e.code).toBe('BAD_FRAME');
    expect(String(e.details?.expected)).toMatch(/nesting/);
  });

  test('details name what was expected and what came', () => {
    const e = badFrame(raw({ ...data, tensors: [{ ...goodTensor, length: 20 }] }, [new Uint8Array(20)]), 'peer');
    expect(e.details).toMatchObject({ path: 'tensors[0].length', expected: '4 bytes per element of shape [2, 3]', got: '20 bytes' });
    expect(e.message).toContain('tensors[0].length');
  });

  test('a version mismatch carries a hint, in the preamble or in a v field', () => {
    expect(badFrame(raw({ ...hello, v: 0 }), 'peer').hint).toMatch(/protocol version/);
    expect(badFrame(Buffer.from([0xc1, 2, 0, 0, 1, 0, 0, 0, 0xc0, 0, 0, 0]), 'peer').hint).toMatch(/protocol version/);
    const old = badFrame(pack(hello), 'peer');
    expect(old.hint).toMatch(/protocol version/);
    expect(old.message).toMatch(/protocol version 2 or older/);
    expect(badFrame(Buffer.from('00000000000000000000', 'hex'), 'peer').hint).toBeUndefined();
  });

  test('mangled frames are refused with BAD_FRAME or decode to a valid message, never anything else', () => {
    const frames = [
      encodeFrame({ t: 'data', tag: 'fuzz', tensors: tensorsToFrames({ k: { dtype: 'float32', shape: [3, 5], data: new Float32Array(15).fill(1.5) }, pos: { dtype: 'int32', shape: [3], data: new Int32Array([0, 1, 2]) } }), meta: { hop: 1 } }),
      encodeFrame({ t: 'job-chunk', jobId: 'j', seq: 2, bytes: new Uint8Array(7).fill(3), last: false }),
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const frame = frames[round % frames.length];
      const f = Buffer.from(frame);
      const flips = 1 + rand(3);
      for (let i = 0; i < flips; i++) f[rand(Math.min(f.length, 80))] = rand(256); // mostly the preamble and header
      const cut = rand(4) === 0 ? f.subarray(0, rand(f.length)) : f;
      const direction = round % frames.length === 0 ? 'peer' : 'coordinator-to-worker';
      try {
        decodeFrame(cut, direction);
      } catch (e) {
        expect(isRingtrainError(e) && e.code === 'BAD_FRAME').toBe(true);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(1500);
  });

  test('a __proto__ key cannot reach the prototype', () => {
    const buf = frameFromHeader(Buffer.concat([Buffer.from([0x84]), pack('t'), pack('data'), pack('tag'), pack('x'), pack('tensors'), pack([]), pack('meta'),
      Buffer.from([0x81]), pack('__proto__'), pack(1)]));
    const msg = decodeFrame(buf, 'peer') as DataMsg;
    expect(Object.getPrototypeOf(msg.meta)).toBe(Object.prototype);
  });
});

describe('encodeFrame rejects invalid outgoing messages with BAD_MESSAGE', () => {
  test.each([
    ['unknown type', { t: 'gossip' }],
    ['tag too long', { t: 'data', tag: 'x'.repeat(300), tensors: [] }],
    ['shape disagreeing with bytes', { t: 'data', tag: 'x', tensors: [{ name: 'a', dtype: 'float32', shape: [3], bytes: new Uint8Array(4) }] }],
    ['typed array instead of bytes', { t: 'data', tag: 'x', tensors: [{ name: 'a', dtype: 'float32', shape: [1], bytes: new Float32Array(1) }] }],
  ])('%s', (_name, msg) => {
    expect(() => encodeFrame(msg as unknown as Msg)).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});
