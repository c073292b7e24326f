import { RingtrainError, StateMachine, isRingtrainError, type Logger } from '@ringtrain/core';
import type { BackendName } from '@ringtrain/config';
import {
  BulkReceiver,
  PROTOCOL_VERSION,
  bulkIndexOf,
  chunkBytesFor,
  decodeJobRequest,
  encodeJobResult,
  jobKind,
  streamBulk,
  tensorsFromFrames,
  tensorsToFrames,
  type Bulk,
  type CoordinatorToWorkerMsg,
  type JobKind,
  type JobMsg,
  type ResultPayload,
} from '@ringtrain/protocol';
import { WS_DEFAULTS, connectToCoordinator, startPeerServer, type CoordinatorConnection, type TlsMaterial, type Transport, type WsOptions } from '@ringtrain/transport';
import { selectBackend } from '../backend';
import { attentionJob } from './attention-job';
import type { JobEnv, JobHandlers, WorkerState } from './job-env';
import { evalStepJob, getStateJob, setStateJob, trainInitJob, trainStepJob } from './train-jobs';

/**
 * One worker process: data-plane server up, register with the coordinator, join the peer mesh
 * when the world forms, then run jobs one at a time until told to shut down.
 */
export interface WorkerProcessOptions {
  coordinatorUrl: string;
  secret: string;
  rank: number;
  worldSize: number;
  /** Address peers use to reach this worker's data plane. */
  host: string;
  /** Interface the data plane listens on (default: `host`). */
  bind?: string;
  /** Port of the data plane (default 0: any free port). */
  dataPort?: number;
  /** The job this worker belongs to, sent with `register` (a coordinator of another job refuses it). */
  jobId?: string;
  /** TLS for both planes: the data plane serves wss:// with cert and key; the coordinator and peers are trusted through ca. */
  tls?: TlsMaterial | null;
  /** How long to keep trying the coordinator, and to wait for the mesh. */
  connectTimeoutMs: number;
  logger: Logger;
  /** Which tfjs backend and kernels to compute with. */
  backend: BackendName;
  /** Transport limits (max frame bytes, heartbeats, ...) for both planes. */
  wsOptions?: WsOptions;
}

/** registered: waiting for the world; ready: mesh up, idle; busy: running a job. */
type WorkerLifecycle = 'starting' | 'registered' | 'ready' | 'busy' | 'stopped';

/** Codes of a request that is not a valid job: the worker answers `failed`, then closes the connection. */
const MALFORMED_REQUEST: readonly string[] = ['UNKNOWN_JOB', 'BAD_JOB'];

const BENCH_KINDS = ['bench-attention', 'bench-transport'] as const;
type BenchKind = (typeof BENCH_KINDS)[number];

const CORE_HANDLERS: Omit<JobHandlers, BenchKind> = {
  attention: attentionJob,
  'train-init': trainInitJob,
  'train-step': trainStepJob,
  'eval-step': evalStepJob,
  'get-state': getStateJob,
  'set-state': setStateJob,
};

/** The handlers of every kind; the bench module (with its raw-TCP baseline) loads only when a bench job arrives. */
async function handlersFor(kind: JobKind): Promise<JobHandlers> {
  if (!(BENCH_KINDS as readonly string[]).includes(kind)) return { ...CORE_HANDLERS, ...NOT_LOADED };
  const bench = await import('../bench/bench-jobs');
  return { ...CORE_HANDLERS, 'bench-attention': bench.benchAttentionJob, 'bench-transport': bench.benchTransportJob };
}

const notLoaded = async (): Promise<never> => {
  throw new RingtrainError('BAD_STATE', 'the bench module is not loaded');
};
const NOT_LOADED: Pick<JobHandlers, BenchKind> = { 'bench-attention': notLoaded, 'bench-transport': notLoaded };

async function runHandler<K extends JobKind>(kind: K, env: JobEnv, msg: JobMsg, bulk: Bulk | undefined): Promise<ResultPayload> {
  const request = decodeJobRequest(kind, { params: msg.params, tensors: tensorsFromFrames(msg.tensors), bulk });
  const handler = (await handlersFor(kind))[kind];
  return encodeJobResult(kind, await handler(env, request, msg.jobId));
}

/**
 * How a worker's part in a world ended: `done` (told to shut down, or the coordinator closed),
 * `rejoin` (the coordinator is re-forming the world after losing a rank: register again).
 */
export type WorkerOutcome = 'done' | 'rejoin';

export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerOutcome> {
  const { logger, rank, worldSize } = opts;
  const lifecycle = new StateMachine<WorkerLifecycle>(`worker ${rank}`, 'starting', {
    starting: ['registered', 'stopped'],
    registered: ['ready', 'stopped'],
    ready: ['busy', 'stopped'],
    busy: ['ready', 'stopped'],
    stopped: [],
  });
  const backend = await selectBackend(opts.backend, logger);
  const chunkBytes = chunkBytesFor(opts.wsOptions?.maxFrameBytes ?? WS_DEFAULTS.maxFrameBytes);
  const peer = await startPeerServer({ rank, worldSize, secret: opts.secret, host: opts.bind ?? opts.host, port: opts.dataPort ?? 0, logger, ...opts.wsOptions, ...(opts.tls ? { tls: opts.tls } : {}) });
  let conn: CoordinatorConnection | null = null;
  const mesh: { transport: Transport | null } = { transport: null };
  const state: WorkerState = { train: null, strategy: null };
  /** Set when this worker closed the coordinator connection over a protocol violation. */
  let fatal: RingtrainError | null = null;
  let outcome: WorkerOutcome = 'done';
  try {
    conn = await connectToCoordinator({ url: opts.coordinatorUrl, secret: opts.secret, retryForMs: opts.connectTimeoutMs, label: 'coordinator', logger, ...opts.wsOptions, ...(opts.tls ? { tls: opts.tls } : {}) });
    await conn.send({ t: 'register', v: PROTOCOL_VERSION, rank, host: opts.host, dataPort: peer.port, pid: process.pid, worldSize, ...(opts.jobId ? { job: opts.jobId } : {}) });
    lifecycle.to('registered');
    logger.info(`rank ${rank}/${worldSize} registered; data plane on ${opts.host}:${peer.port}`);

    const messages = conn.messages();
    let stopped = false;
    for (;;) {
      const next = await messages.next();
      if (next.done) break;
      stopped = await handle(next.value, messages);
      if (stopped) break;
    }
    if (fatal) throw fatal;
    // After `shutdown` the coordinator may close first; only an unasked-for end is an error.
    if (!stopped && conn.state !== 'open') {
      const info = await conn.closed;
      if (info.error) throw info.error;
    }
    return outcome;
  } finally {
    if (!lifecycle.is('stopped')) lifecycle.to('stopped');
    await mesh.transport?.close().catch(() => undefined);
    await peer.close().catch(() => undefined);
    await conn?.close().catch(() => undefined);
  }

  async function handle(msg: CoordinatorToWorkerMsg, messages: AsyncIterator<CoordinatorToWorkerMsg>): Promise<boolean> {
    switch (msg.t) {
      case 'world':
        if (!lifecycle.is('registered')) return refuse(new RingtrainError('BAD_STATE', `worker ${rank} got a world while ${lifecycle.state}`, { hint: 'the world forms once per worker' }));
        if (msg.rank !== rank || msg.worldSize !== worldSize) {
          throw new RingtrainError('WORLD_MISMATCH', `coordinator placed this worker at rank ${msg.rank}/${msg.worldSize}, but it started as ${rank}/${worldSize}`);
        }
        mesh.transport = await peer.connectMesh(msg.peers, { timeoutMs: opts.connectTimeoutMs });
        lifecycle.to('ready');
        await conn!.send({ t: 'ready', rank, backend: backend.name, device: backend.device });
        logger.info(`rank ${rank}: mesh of ${worldSize} up`);
        return false;
      case 'job': {
        // The job's bulk stream is read in full before anything runs: a stream that breaks
        // off applies nothing, and its error closes the connection.
        let bulk: Bulk | undefined;
        if (msg.bulk) {
          const received = await receiveBulk(msg, messages);
          if (received === null) return true;
          bulk = received;
        }
        return runJob(msg, bulk);
      }
      case 'job-chunk':
        return refuse(new RingtrainError('BAD_STREAM', `chunk ${msg.seq} of job ${msg.jobId} arrived outside a job's stream`));
      case 'shutdown':
        if (msg.rejoin) outcome = 'rejoin';
        logger.info(`rank ${rank}: ${msg.rejoin ? 'leaving the world, which is re-forming' : 'shutting down'} (${msg.reason})`);
        return true;
    }
  }

  /** Closes the coordinator connection with a coded error; the worker then stops. */
  async function refuse(err: RingtrainError): Promise<boolean> {
    fatal ??= err;
    logger.error(`${err.code}: ${err.message}`);
    await conn!.fail(err);
    return true;
  }

  async function receiveBulk(msg: JobMsg, messages: AsyncIterator<CoordinatorToWorkerMsg>): Promise<Bulk | null> {
    const receiver = new BulkReceiver(msg.bulk!, `job ${msg.jobId} from the coordinator`);
    try {
      while (!receiver.complete) {
        const next = await messages.next();
        if (next.done) throw new RingtrainError('BAD_STREAM', `the coordinator connection ended inside job ${msg.jobId}'s stream`);
        const chunk = next.value;
        if (chunk.t !== 'job-chunk' || chunk.jobId !== msg.jobId) {
          throw new RingtrainError('BAD_STREAM', `a ${chunk.t} frame arrived inside job ${msg.jobId}'s stream`, { hint: 'a job\'s chunks follow it without anything in between' });
        }
        receiver.accept(chunk);
      }
      return receiver.take();
    } catch (err) {
      if (!isRingtrainError(err)) throw err;
      await refuse(err);
      return null;
    }
  }

  /** Runs one job and answers it; true when the request itself was malformed (the connection is then closed). */
  async function runJob(msg: JobMsg, bulk: Bulk | undefined): Promise<boolean> {
    try {
      const kind = jobKind(msg.kind);
      if (!lifecycle.is('ready')) {
        throw new RingtrainError('BAD_STATE', `job ${msg.jobId} (${kind}) arrived while worker ${rank} is ${lifecycle.state}`, { hint: 'jobs come after the world has formed, one at a time' });
      }
      lifecycle.to('busy');
      let out: ResultPayload;
      try {
        out = await runHandler(kind, { transport: mesh.transport!, kernel: backend.kernel, state }, msg, bulk);
      } finally {
        lifecycle.to('ready');
      }
      await conn!.send({ t: 'result', jobId: msg.jobId, tensors: tensorsToFrames(out.tensors), meta: out.meta, bulk: out.bulk && bulkIndexOf(out.bulk) });
      if (out.bulk) await streamBulk(out.bulk, chunkBytes, (piece) => conn!.send({ t: 'result-chunk', jobId: msg.jobId, ...piece }));
      return false;
    } catch (err) {
      const e = isRingtrainError(err) ? err : new RingtrainError('WORKER_ERROR', (err as Error)?.stack ?? String(err));
      logger.error(`job ${msg.jobId} failed: ${e.message}`);
      await conn!.send({ t: 'failed', jobId: msg.jobId, code: e.code, message: e.message });
      // A request that is not a valid job is a protocol violation, not a failed computation.
      return MALFORMED_REQUEST.includes(e.code) ? refuse(e) : false;
    }
  }
}
