import { isRingtrainError, type RingtrainError } from '@ringtrain/core';
import { pack } from 'msgpackr';
import { decodeFrame, encodeFrame } from './codec';
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

/** Packs an arbitrary value the way a hostile or buggy peer might, bypassing encodeFrame's checks. */
function raw(value: unknown): Buffer {
  return pack(value);
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
const goodTensor = { name: 'k', dtype: 'float32', shape: [2, 3], bytes: new Uint8Array(24) };
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
  test('travel as one raw little-endian bin, not per-element', () => {
    const data = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i));
    const frame = encodeFrame({ t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [1001], data } }) });
    const payload = Buffer.from(data.buffer);
    expect(frame.length).toBeLessThan(payload.length + 96); // header: keys, name, shape, bin length
    const at = frame.indexOf(payload);
    expect(at).toBeGreaterThan(0);
    expect(frame[at - 3]).toBe(0xc5); // bin 16 header: 0xc5, u16 length
    expect(frame.readUInt16BE(at - 2)).toBe(4004);
  });

  test('decoded tensors view the frame when aligned and copy once when not', () => {
    const data = Float32Array.from({ length: 64 }, (_, i) => i);
    const encoded = encodeFrame({ t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [64], data } }) });
    const payloadAt = encoded.indexOf(Buffer.from(data.buffer));
    for (const shift of [0, 1, 2, 3]) {
      // Place the frame so its payload starts at an offset of `shift` mod 4.
      const pad = (((shift - payloadAt) % 4) + 4) % 4;
      const holder = Buffer.alloc(pad + encoded.length + 8);
      encoded.copy(holder, pad);
      const buf = holder.subarray(pad, pad + encoded.length);
      const t = tensorsFromFrames((decodeFrame(buf, 'peer') as DataMsg).tensors).x;
      expect(Array.from(t.data)).toEqual(Array.from(data));
      expect(t.data.buffer === holder.buffer).toBe((holder.byteOffset + pad + payloadAt) % 4 === 0);
    }
  });

  test('encoding copies, so the sender may reuse its buffer', () => {
    const data = new Float32Array([1, 2, 3]);
    const frame = encodeFrame({ t: 'data', tag: 'x', tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [3], data } }) });
    data.fill(0);
    const back = tensorsFromFrames((decodeFrame(frame, 'peer') as DataMsg).tensors).x;
    expect(Array.from(back.data)).toEqual([1, 2, 3]);
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
  const cases: Array<[string, Uint8Array, Direction, string | undefined]> = [
    ['undecodable msgpack (random bytes)', Buffer.from('c1ffee00deadbeef', 'hex'), 'peer', undefined],
    ['truncated msgpack', raw(data).subarray(0, 20), 'peer', undefined],
    ['trailing bytes', Buffer.concat([raw(hello), Buffer.from([0])]), 'peer', undefined],
    ['empty frame', Buffer.alloc(0), 'peer', undefined],
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
    ['empty tag', raw({ ...data, tag: '' }), 'peer', 'tag'],
    ['tag longer than 256 chars', raw({ ...data, tag: 'x'.repeat(257) }), 'peer', 'tag'],
    ['more than 64 tensors', raw({ ...data, tensors: Array.from({ length: 65 }, (_, i) => ({ ...goodTensor, name: `t${i}` })) }), 'peer', 'tensors'],
    ['tensors not an array', raw({ ...data, tensors: { k: goodTensor } }), 'peer', 'tensors'],
    ['unknown dtype', raw({ ...data, tensors: [{ ...goodTensor, dtype: 'float16' }] }), 'peer', 'tensors[0].dtype'],
    ['negative dim', raw({ ...data, tensors: [{ ...goodTensor, shape: [-2, -3] }] }), 'peer', 'tensors[0].shape[0]'],
    ['fractional dim', raw({ ...data, tensors: [{ ...goodTensor, shape: [1.5, 4] }] }), 'peer', 'tensors[0].shape[0]'],
    ['too many dims', raw({ ...data, tensors: [{ ...goodTensor, shape: [1, 1, 1, 1, 1, 1, 1, 1, 6], bytes: new Uint8Array(24) }] }), 'peer', 'tensors[0].shape'],
    ['byte length != product(shape) * 4', raw({ ...data, tensors: [{ ...goodTensor, bytes: new Uint8Array(20) }] }), 'peer', 'tensors[0].bytes'],
    ['byte length not a multiple of 4', raw({ ...data, tensors: [{ ...goodTensor, shape: [1], bytes: new Uint8Array(5) }] }), 'peer', 'tensors[0].bytes'],
    ['overflowing shape', raw({ ...data, tensors: [{ ...goodTensor, shape: [2 ** 40, 2 ** 40, 2 ** 40], bytes: new Uint8Array(0) }] }), 'peer', 'tensors[0].bytes'],
    ['zero dim with bytes', raw({ ...data, tensors: [{ ...goodTensor, shape: [0, 3], bytes: new Uint8Array(4) }] }), 'peer', 'tensors[0].bytes'],
    ['bytes as a per-element array', raw({ ...data, tensors: [{ ...goodTensor, shape: [2], bytes: [0, 0] }] }), 'peer', 'tensors[0].bytes'],
    ['duplicate tensor names', raw({ ...data, tensors: [goodTensor, goodTensor] }), 'peer', 'tensors[1].name'],
    ['meta with a nested value', raw({ ...data, meta: { a: { b: 1 } } }), 'peer', 'meta.a'],
    ['meta with too many entries', raw({ ...data, meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }), 'peer', 'meta'],
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
    const e = badFrame(raw({ ...data, tensors: [{ ...goodTensor, bytes: new Uint8Array(20) }] }), 'peer');
    expect(e.details).toMatchObject({ path: 'tensors[0].bytes', expected: '4 bytes per element of shape [2, 3]', got: '20 bytes' });
    expect(e.message).toContain('tensors[0].bytes');
  });

  test('a version mismatch carries a hint', () => {
    expect(badFrame(raw({ ...hello, v: 0 }), 'peer').hint).toMatch(/protocol version/);
  });

  test('a __proto__ key cannot reach the prototype', () => {
    const buf = Buffer.concat([Buffer.from([0x84]), raw('t'), raw('data'), raw('tag'), raw('x'), raw('tensors'), raw([]), raw('meta'),
      Buffer.from([0x81]), raw('__proto__'), raw(1)]);
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
