import type { TensorFrame, WireDtype } from './tensor';

/**
 * Every frame is a msgpack map with a discriminating `t`. One union per direction; a frame of
 * another direction is as unknown to a decoder as a made-up `t`.
 */

/** Small scalars that travel beside tensors. */
export type Meta = Record<string, number | string | boolean>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A tensor of a bulk stream, announced before its bytes: the data follows in index order. */
export interface TensorIndexEntry {
  name: string;
  dtype: WireDtype;
  shape: number[];
}

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
  /** The world size the worker was started for; the coordinator refuses a worker of another world. */
  worldSize?: number;
  /** The job the worker was started for (RINGTRAIN_JOB_ID, Slurm's job id); a worker of another job is refused. */
  job?: string;
}

/** The worker's data-plane mesh is up. */
export interface ReadyMsg {
  t: 'ready';
  rank: number;
  /** The compute backend it chose (`native`, `webgpu`…) and the device it runs on, for logs and reports. */
  backend?: string;
  device?: string;
}

export interface ResultMsg {
  t: 'result';
  jobId: string;
  tensors: TensorFrame[];
  meta: Meta;
  /** Bulk tensors that follow as `result-chunk` frames (see bulk.ts); absent when none. */
  bulk?: TensorIndexEntry[];
}

/** One piece of a result's bulk stream: the next `bytes` of the tensors' concatenated data. */
export interface ResultChunkMsg {
  t: 'result-chunk';
  jobId: string;
  /** 0, 1, 2, … with no gaps or repeats. */
  seq: number;
  bytes: Uint8Array;
  /** The stream ends here; the bytes so far must add up to the index's total. */
  last: boolean;
}

/** A job (or, with jobId null, the worker itself) failed; `code` is a RingtrainError code. */
export interface FailedMsg {
  t: 'failed';
  jobId: string | null;
  code: string;
  message: string;
}

export type WorkerToCoordinatorMsg = RegisterMsg | ReadyMsg | ResultMsg | ResultChunkMsg | FailedMsg;

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

/** `params` is JSON-like; its schema belongs to the job kind (jobs/), which validates it. */
export interface JobMsg {
  t: 'job';
  jobId: string;
  kind: string;
  params: JsonObject;
  tensors: TensorFrame[];
  /** Bulk tensors that follow as `job-chunk` frames (see bulk.ts); absent when none. */
  bulk?: TensorIndexEntry[];
}

/** One piece of a job's bulk stream (the mirror of ResultChunkMsg). */
export interface JobChunkMsg {
  t: 'job-chunk';
  jobId: string;
  seq: number;
  bytes: Uint8Array;
  last: boolean;
}

export interface ShutdownMsg {
  t: 'shutdown';
  reason: string;
  /**
   * The world is re-forming (a rank was lost and the run goes on from its latest checkpoint):
   * a worker started by a scheduler registers again instead of exiting.
   */
  rejoin?: boolean;
}

export type CoordinatorToWorkerMsg = WorldMsg | JobMsg | JobChunkMsg | ShutdownMsg;

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
  'result-chunk': 'worker-to-coordinator',
  failed: 'worker-to-coordinator',
  world: 'coordinator-to-worker',
  job: 'coordinator-to-worker',
  'job-chunk': 'coordinator-to-worker',
  shutdown: 'coordinator-to-worker',
});
