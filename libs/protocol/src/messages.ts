import type { TensorFrame } from './tensor';

/**
 * Every frame is a msgpack map with a discriminating `t`. One union per direction; a frame of
 * another direction is as unknown to a decoder as a made-up `t`.
 */

/** Small scalars that travel beside tensors. */
export type Meta = Record<string, number | string | boolean>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// ---- peer <-> peer (data plane) ----

/** First frame on a data-plane link, sent by the dialer; the acceptor answers with its own. */
export interface HelloMsg {
  t: 'hello';
  v: number;
  rank: number;
  worldSize: number;
}

export interface DataMsg {
  t: 'data';
  tag: string;
  tensors: TensorFrame[];
  meta?: Meta;
}

export type PeerMsg = HelloMsg | DataMsg;

// ---- worker -> coordinator (control plane) ----

/** First frame from a worker. `rank` is null when the coordinator assigns ranks. */
export interface RegisterMsg {
  t: 'register';
  v: number;
  rank: number | null;
  host: string;
  /** Port of the worker's data-plane server. */
  dataPort: number;
  pid: number;
}

/** The worker's data-plane mesh is up. */
export interface ReadyMsg {
  t: 'ready';
  rank: number;
}

export interface ResultMsg {
  t: 'result';
  jobId: string;
  tensors: TensorFrame[];
  meta: Meta;
}

/** A job (or, with jobId null, the worker itself) failed; `code` is a RingtrainError code. */
export interface FailedMsg {
  t: 'failed';
  jobId: string | null;
  code: string;
  message: string;
}

export type WorkerToCoordinatorMsg = RegisterMsg | ReadyMsg | ResultMsg | FailedMsg;

// ---- coordinator -> worker ----

export interface PeerAddress {
  rank: number;
  host: string;
  port: number;
}

export interface WorldMsg {
  t: 'world';
  rank: number;
  worldSize: number;
  peers: PeerAddress[];
}

/** `params` is JSON-like; its schema belongs to the handler of `kind`, which validates it. */
export interface JobMsg {
  t: 'job';
  jobId: string;
  kind: string;
  params: JsonObject;
  tensors: TensorFrame[];
}

export interface ShutdownMsg {
  t: 'shutdown';
  reason: string;
}

export type CoordinatorToWorkerMsg = WorldMsg | JobMsg | ShutdownMsg;

// ---- directions ----

export type Msg = PeerMsg | WorkerToCoordinatorMsg | CoordinatorToWorkerMsg;
export type MsgType = Msg['t'];

/** Which way a frame travels; a decoder accepts only the frames of its direction. */
export type Direction = 'peer' | 'worker-to-coordinator' | 'coordinator-to-worker';

export interface MsgByDirection {
  peer: PeerMsg;
  'worker-to-coordinator': WorkerToCoordinatorMsg;
  'coordinator-to-worker': CoordinatorToWorkerMsg;
}

export type MsgOf<D extends Direction> = MsgByDirection[D];

/** The direction of the frames an endpoint sends when it receives frames of direction D. */
export type ReplyDirection<D extends Direction> = D extends 'peer'
  ? 'peer'
  : D extends 'worker-to-coordinator'
    ? 'coordinator-to-worker'
    : 'worker-to-coordinator';

/** Message types are unique across directions, so a message names its own direction. */
export const DIRECTION_OF_TYPE: Readonly<Record<MsgType, Direction>> = Object.freeze({
  hello: 'peer',
  data: 'peer',
  register: 'worker-to-coordinator',
  ready: 'worker-to-coordinator',
  result: 'worker-to-coordinator',
  failed: 'worker-to-coordinator',
  world: 'coordinator-to-worker',
  job: 'coordinator-to-worker',
  shutdown: 'coordinator-to-worker',
});
