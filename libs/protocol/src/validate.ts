import * as c from './check';
import { FrameIssue, type Fields } from './check';
import type { PayloadSource } from './frame';
import type { FrameLimits } from './limits';
import type {
  CoordinatorToWorkerMsg,
  Direction,
  JsonObject,
  JsonValue,
  Meta,
  Msg,
  MsgOf,
  PeerAddress,
  PeerMsg,
  TensorIndexEntry,
  WorkerToCoordinatorMsg,
} from './messages';
import { BYTES_PER_ELEMENT, WIRE_DTYPES, type TensorFrame } from './tensor';
import { PROTOCOL_VERSION } from './version';

/**
 * Proves that a value is a message of the given direction and returns a fresh copy built only
 * from checked fields (binary values are shared, not copied). `payloads` says where binary
 * values are: inline (a message about to be sent) or referenced from a received frame's header
 * (frame.ts). Throws FrameIssue.
 */
export function validateMsg<D extends Direction>(value: unknown, direction: D, limits: FrameLimits, payloads: PayloadSource): MsgOf<D> {
  const o = c.map(value, '', Number.MAX_SAFE_INTEGER); // each message checks its own fields below
  const t = o.t;
  const byType = VALIDATORS[direction] as Record<string, Validator<Msg>>;
  if (typeof t !== 'string' || !Object.prototype.hasOwnProperty.call(byType, t)) {
    throw new FrameIssue('t', `a ${direction} message type (${Object.keys(byType).join(', ')})`, c.describe(t));
  }
  return byType[t](o, limits, payloads) as MsgOf<D>; // the table for D only builds MsgOf<D>
}

type Validator<M> = (o: Fields, l: FrameLimits, p: PayloadSource) => M;

const PEER: Record<PeerMsg['t'], Validator<PeerMsg>> = {
  hello(o, l) {
    c.object(o, '', ['t', 'v', 'rank', 'worldSize']);
    const v = version(o.v);
    const worldSize = c.integer(o.worldSize, 'worldSize', 1, l.maxWorldSize);
    return { t: 'hello', v, rank: c.integer(o.rank, 'rank', 0, worldSize - 1), worldSize };
  },
  data(o, l, p) {
    c.object(o, '', ['t', 'tag', 'tensors'], ['meta']);
    const msg: PeerMsg = { t: 'data', tag: c.string(o.tag, 'tag', l.maxTagChars, 1), tensors: tensors(o.tensors, 'tensors', l, p) };
    if (o.meta !== undefined) msg.meta = meta(o.meta, 'meta', l);
    return msg;
  },
};

const TO_COORDINATOR: Record<WorkerToCoordinatorMsg['t'], Validator<WorkerToCoordinatorMsg>> = {
  register(o, l) {
    c.object(o, '', ['t', 'v', 'rank', 'host', 'dataPort', 'pid'], ['worldSize', 'job']);
    return {
      t: 'register',
      v: version(o.v),
      rank: o.rank === null ? null : c.integer(o.rank, 'rank', 0, l.maxWorldSize - 1),
      host: c.string(o.host, 'host', l.maxNameChars, 1),
      dataPort: port(o.dataPort, 'dataPort'),
      pid: c.integer(o.pid, 'pid', 0),
      ...(o.worldSize === undefined ? {} : { worldSize: c.integer(o.worldSize, 'worldSize', 1, l.maxWorldSize) }),
      ...(o.job === undefined ? {} : { job: c.string(o.job, 'job', l.maxNameChars, 1) }),
    };
  },
  ready(o, l) {
    c.object(o, '', ['t', 'rank'], ['backend', 'device']);
    return {
      t: 'ready',
      rank: c.integer(o.rank, 'rank', 0, l.maxWorldSize - 1),
      ...(o.backend === undefined ? {} : { backend: c.string(o.backend, 'backend', l.maxNameChars, 1) }),
      ...(o.device === undefined ? {} : { device: c.string(o.device, 'device', l.maxNameChars * 4, 1) }),
    };
  },
  result(o, l, p) {
    c.object(o, '', ['t', 'jobId', 'tensors', 'meta'], ['bulk']);
    const msg: WorkerToCoordinatorMsg = {
      t: 'result',
      jobId: c.string(o.jobId, 'jobId', l.maxNameChars, 1),
      tensors: tensors(o.tensors, 'tensors', l, p),
      meta: meta(o.meta, 'meta', l),
    };
    if (o.bulk !== undefined) msg.bulk = bulkIndex(o.bulk, 'bulk', l);
    return msg;
  },
  'result-chunk'(o, l, p) {
    return { t: 'result-chunk', ...chunk(o, l, p) };
  },
  failed(o, l) {
    c.object(o, '', ['t', 'jobId', 'code', 'message']);
    return {
      t: 'failed',
      jobId: o.jobId === null ? null : c.string(o.jobId, 'jobId', l.maxNameChars, 1),
      code: c.string(o.code, 'code', l.maxNameChars, 1),
      message: c.string(o.message, 'message', l.maxTextChars),
    };
  },
};

const TO_WORKER: Record<CoordinatorToWorkerMsg['t'], Validator<CoordinatorToWorkerMsg>> = {
  world(o, l) {
    c.object(o, '', ['t', 'rank', 'worldSize', 'peers']);
    const worldSize = c.integer(o.worldSize, 'worldSize', 1, l.maxWorldSize);
    const rank = c.integer(o.rank, 'rank', 0, worldSize - 1);
    const seen = new Set<number>();
    const peers = c.array(o.peers, 'peers', worldSize).map((p, i): PeerAddress => {
      const path = c.join('peers', i);
      const f = c.object(p, path, ['rank', 'host', 'port']);
      const peerRank = c.integer(f.rank, c.join(path, 'rank'), 0, worldSize - 1);
      if (seen.has(peerRank)) throw new FrameIssue(c.join(path, 'rank'), 'a rank not listed before', String(peerRank));
      seen.add(peerRank);
      return { rank: peerRank, host: c.string(f.host, c.join(path, 'host'), l.maxNameChars, 1), port: port(f.port, c.join(path, 'port')) };
    });
    return { t: 'world', rank, worldSize, peers };
  },
  job(o, l, p) {
    c.object(o, '', ['t', 'jobId', 'kind', 'params', 'tensors'], ['bulk']);
    const msg: CoordinatorToWorkerMsg = {
      t: 'job',
      jobId: c.string(o.jobId, 'jobId', l.maxNameChars, 1),
      kind: c.string(o.kind, 'kind', l.maxNameChars, 1),
      params: jsonObject(o.params, 'params', l, 1),
      tensors: tensors(o.tensors, 'tensors', l, p),
    };
    if (o.bulk !== undefined) msg.bulk = bulkIndex(o.bulk, 'bulk', l);
    return msg;
  },
  'job-chunk'(o, l, p) {
    return { t: 'job-chunk', ...chunk(o, l, p) };
  },
  shutdown(o, l) {
    c.object(o, '', ['t', 'reason'], ['rejoin']);
    if (o.rejoin !== undefined && typeof o.rejoin !== 'boolean') throw new FrameIssue('rejoin', 'a boolean', c.describe(o.rejoin));
    return { t: 'shutdown', reason: c.string(o.reason, 'reason', l.maxTextChars), ...(o.rejoin === undefined ? {} : { rejoin: o.rejoin }) };
  },
};

const VALIDATORS: { [D in Direction]: Record<MsgOf<D>['t'], Validator<MsgOf<D>>> } = {
  peer: PEER,
  'worker-to-coordinator': TO_COORDINATOR,
  'coordinator-to-worker': TO_WORKER,
};

function version(v: unknown): number {
  if (v !== PROTOCOL_VERSION) throw new FrameIssue('v', `protocol version ${PROTOCOL_VERSION}`, c.describe(v));
  return PROTOCOL_VERSION;
}

function port(v: unknown, path: string): number {
  return c.integer(v, path, 1, 65535);
}

function chunk(o: Fields, l: FrameLimits, p: PayloadSource): { jobId: string; seq: number; bytes: Uint8Array; last: boolean } {
  c.object(o, '', ['t', 'jobId', 'seq', ...p.fields, 'last']);
  if (typeof o.last !== 'boolean') throw new FrameIssue('last', 'a boolean', c.describe(o.last));
  const jobId = c.string(o.jobId, 'jobId', l.maxNameChars, 1);
  const seq = c.integer(o.seq, 'seq', 0);
  return { jobId, seq, bytes: p.take(o, ''), last: o.last };
}

/** The tensors a bulk stream announces: unique names, known dtypes, and at most maxBulkBytes in all. */
function bulkIndex(v: unknown, path: string, l: FrameLimits): TensorIndexEntry[] {
  const names = new Set<string>();
  let total = 0;
  return c.array(v, path, l.maxBulkTensors).map((item, i) => {
    const p = c.join(path, i);
    const f = c.object(item, p, ['name', 'dtype', 'shape']);
    const name = c.string(f.name, c.join(p, 'name'), l.maxNameChars, 1);
    if (names.has(name)) throw new FrameIssue(c.join(p, 'name'), 'a name not used before in this stream', JSON.stringify(name));
    names.add(name);
    const dtype = c.oneOf(f.dtype, c.join(p, 'dtype'), WIRE_DTYPES);
    const shape = c.array(f.shape, c.join(p, 'shape'), l.maxDims).map((d, k) => c.integer(d, c.join(c.join(p, 'shape'), k), 0, l.maxBulkBytes));
    total += shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT; // each factor ≤ 2^40: finite, and compared at once
    if (!(total <= l.maxBulkBytes)) throw new FrameIssue(c.join(p, 'shape'), `at most ${l.maxBulkBytes} bytes in the whole stream`, `${total} bytes so far`);
    return { name, dtype, shape };
  });
}

/** Binary values are taken from `payloads` in array order, which is their order in a frame. */
function tensors(v: unknown, path: string, l: FrameLimits, payloads: PayloadSource): TensorFrame[] {
  const names = new Set<string>();
  return c.array(v, path, l.maxTensors).map((item, i) => {
    const p = c.join(path, i);
    const f = c.object(item, p, ['name', 'dtype', 'shape', ...payloads.fields]);
    const name = c.string(f.name, c.join(p, 'name'), l.maxNameChars, 1);
    if (names.has(name)) throw new FrameIssue(c.join(p, 'name'), 'a name not used before in this frame', JSON.stringify(name));
    names.add(name);
    const dtype = c.oneOf(f.dtype, c.join(p, 'dtype'), WIRE_DTYPES);
    const shape = c.array(f.shape, c.join(p, 'shape'), l.maxDims).map((d, k) => c.integer(d, c.join(c.join(p, 'shape'), k), 0));
    const bytes = payloads.take(f, p);
    const count = bytes.byteLength / BYTES_PER_ELEMENT; // not an integer when the length is not a multiple of 4
    if (elementsFor(shape, count) !== count) {
      throw new FrameIssue(c.join(p, payloads.lengthField), `${BYTES_PER_ELEMENT} bytes per element of shape [${shape.join(', ')}]`, `${bytes.byteLength} bytes`);
    }
    return { name, dtype, shape, bytes };
  });
}

/**
 * product(shape), except that it stops as soon as it passes `expected`: a hostile shape can
 * then neither overflow nor make the comparison inexact.
 */
function elementsFor(shape: readonly number[], expected: number): number {
  if (shape.includes(0)) return 0;
  let product = 1;
  for (const d of shape) {
    product *= d;
    if (product > expected) break;
  }
  return product;
}

function meta(v: unknown, path: string, l: FrameLimits): Meta {
  const m = c.map(v, path, l.maxMetaEntries);
  return Object.fromEntries(
    Object.entries(m).map(([key, value]) => {
      const p = c.join(path, key);
      c.string(key, p, l.maxNameChars, 1);
      if (typeof value === 'string') return [key, c.string(value, p, l.maxTextChars)];
      if (typeof value === 'number' || typeof value === 'boolean') return [key, value];
      throw new FrameIssue(p, 'a number, string or boolean', c.describe(value));
    }),
  );
}

function jsonObject(v: unknown, path: string, l: FrameLimits, depth: number): JsonObject {
  const o = c.map(v, path, Number.MAX_SAFE_INTEGER);
  return Object.fromEntries(Object.entries(o).map(([key, value]) => [key, json(value, c.join(path, key), l, depth + 1)]));
}

/** JSON-like: what JSON.parse can produce (finite numbers, no binary, no undefined). */
function json(v: unknown, path: string, l: FrameLimits, depth: number): JsonValue {
  if (depth > l.maxParamsDepth) throw new FrameIssue(path, `at most ${l.maxParamsDepth} levels of nesting`, 'deeper');
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new FrameIssue(path, 'a finite number', String(v));
    return v;
  }
  if (typeof v === 'string') return c.string(v, path, l.maxTextChars);
  if (Array.isArray(v)) return v.map((item, i) => json(item, c.join(path, i), l, depth + 1));
  return jsonObject(v, path, l, depth);
}
