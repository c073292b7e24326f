import { RingtrainError, isRingtrainError, type Logger } from '@ringtrain/core';
import type { BackendName } from '@ringtrain/config';
import { selectBackend } from '../backend';
import { PROTOCOL_VERSION, tensorsFromFrames, tensorsToFrames, type CoordinatorToWorkerMsg, type JobMsg } from '@ringtrain/protocol';
import { connectToCoordinator, startPeerServer, type CoordinatorConnection, type Transport, type WsOptions } from '@ringtrain/transport';
import { attentionJob, type JobEnv, type JobOutput } from './attention-job';
import { benchAttentionJob, benchTransportJob } from './bench-job';
import { evalStepJob, getParamsJob, setParamsJob, trainInitJob, trainStepJob, type WorkerState } from './train-jobs';

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
  /** How long to keep trying the coordinator, and to wait for the mesh. */
  connectTimeoutMs: number;
  logger: Logger;
  /** Which tfjs backend and kernels to compute with. */
  backend: BackendName;
  /** Transport limits (max frame bytes, heartbeats, ...) for both planes. */
  wsOptions?: WsOptions;
}

type JobHandler = (env: JobEnv, jobId: string, params: Record<string, unknown>, tensors: ReturnType<typeof tensorsFromFrames>) => Promise<JobOutput>;

const JOB_HANDLERS: Record<string, JobHandler> = {
  attention: attentionJob,
  'train-init': trainInitJob,
  'train-step': trainStepJob,
  'eval-step': evalStepJob,
  'get-params': getParamsJob,
  'set-params': setParamsJob,
  'bench-attention': benchAttentionJob,
  'bench-transport': benchTransportJob,
};

export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<void> {
  const { logger, rank, worldSize } = opts;
  const backend = await selectBackend(opts.backend, logger);
  const peer = await startPeerServer({ rank, worldSize, secret: opts.secret, host: opts.host, port: 0, logger, ...opts.wsOptions });
  let conn: CoordinatorConnection | null = null;
  const mesh: { transport: Transport | null } = { transport: null };
  const state: WorkerState = { train: null, strategy: null };
  try {
    conn = await connectToCoordinator({ url: opts.coordinatorUrl, secret: opts.secret, retryForMs: opts.connectTimeoutMs, label: 'coordinator', logger, ...opts.wsOptions });
    await conn.send({ t: 'register', v: PROTOCOL_VERSION, rank, host: opts.host, dataPort: peer.port, pid: process.pid });
    logger.info(`rank ${rank}/${worldSize} registered; data plane on ${opts.host}:${peer.port}`);

    let stopped = false;
    for await (const msg of conn.messages()) {
      stopped = await handle(msg);
      if (stopped) break;
    }
    // After `shutdown` the coordinator may close first; only an unasked-for end is an error.
    if (!stopped && conn.state !== 'open') {
      const info = await conn.closed;
      if (info.error) throw info.error;
    }
  } finally {
    await mesh.transport?.close().catch(() => undefined);
    await peer.close().catch(() => undefined);
    await conn?.close().catch(() => undefined);
  }

  async function handle(msg: CoordinatorToWorkerMsg): Promise<boolean> {
    switch (msg.t) {
      case 'world':
        if (msg.rank !== rank || msg.worldSize !== worldSize) {
          throw new RingtrainError('WORLD_MISMATCH', `coordinator placed this worker at rank ${msg.rank}/${msg.worldSize}, but it started as ${rank}/${worldSize}`);
        }
        mesh.transport = await peer.connectMesh(msg.peers, { timeoutMs: opts.connectTimeoutMs });
        await conn!.send({ t: 'ready', rank });
        logger.info(`rank ${rank}: mesh of ${worldSize} up`);
        return false;
      case 'job':
        await runJob(msg);
        return false;
      case 'shutdown':
        logger.info(`rank ${rank}: shutting down (${msg.reason})`);
        return true;
    }
  }

  async function runJob(msg: JobMsg): Promise<void> {
    try {
      const transport = mesh.transport;
      if (!transport) throw new RingtrainError('BAD_STATE', `job ${msg.jobId} arrived before the mesh was up`);
      const handler = JOB_HANDLERS[msg.kind];
      if (!handler) throw new RingtrainError('UNKNOWN_JOB', `unknown job kind "${msg.kind}"`, { hint: `known kinds: ${Object.keys(JOB_HANDLERS).join(', ')}` });
      const out = await handler({ transport, kernel: backend.kernel, state }, msg.jobId, msg.params, tensorsFromFrames(msg.tensors));
      await conn!.send({ t: 'result', jobId: msg.jobId, tensors: tensorsToFrames(out.tensors), meta: out.meta });
    } catch (err) {
      const e = isRingtrainError(err) ? err : new RingtrainError('WORKER_ERROR', (err as Error)?.stack ?? String(err));
      logger.error(`job ${msg.jobId} failed: ${e.message}`);
      await conn!.send({ t: 'failed', jobId: msg.jobId, code: e.code, message: e.message });
    }
  }
}
