import { cpus, hostname } from 'node:os';
import type { Command } from 'commander';
import { RingtrainError, createLogger, isRingtrainError, type Logger } from '@ringtrain/core';
import { heartbeatOptions } from '@ringtrain/transport';
import { runWorkerProcess } from '@ringtrain/worker';
import { parseIntOption } from '../check/config';
import { readLaunchEnv, readSecret } from '../launch-env';
import { addTlsOptions, tlsFromFlags, type TlsFlags } from '../tls-flags';
import { BACKENDS, didYouMean, type BackendName } from '@ringtrain/config';

interface WorkerFlags extends TlsFlags {
  rejoin?: boolean;
  coordinator?: string;
  host?: string;
  bind?: string;
  dataPort?: string;
  connectTimeoutMs: string;
  maxFrameBytes: string;
  heartbeatTimeoutMs: string;
  termGraceMs: string;
  backend?: string;
}

/** Refusals by the coordinator that say this worker was started wrongly: explained here, where the hint is read. */
const WRONG_START: Readonly<Record<string, string>> = {
  STALE_JOB: 'this worker belongs to another job than the coordinator at its address: stop workers left over from an earlier job, and give this job\'s workers its RINGTRAIN_JOB_ID',
  WORLD_SIZE_MISMATCH: 'start every worker with the WORLD_SIZE the coordinator was given (its --workers)',
};

/**
 * Errors that mean the world broke under this worker (a peer or the coordinator went away or
 * stopped answering): a worker started by a scheduler registers again, and the coordinator
 * re-forms the world from its latest checkpoint. Anything else (a refusal, a bad option, a
 * coordinator that stays unreachable) ends the worker.
 */
const WORLD_BROKE = new Set(['PEER_CLOSED', 'PEER_DEAD', 'TRANSPORT_CLOSED', 'CONNECTION_CLOSED', 'LINK_FAILED', 'MESH_TIMEOUT', 'HELLO_TIMEOUT', 'BAD_STATE']);

/**
 * `ringtrain worker`: one worker process. Started by `ringtrain train|check` on one machine, or
 * by Slurm/Kubernetes on a cluster, configured by the environment alone: rank and world size
 * from torchrun's, Slurm's or an Indexed Job's variables, the coordinator from MASTER_ADDR and
 * MASTER_PORT (or Slurm's node list and job id), the job secret from RINGTRAIN_SECRET or
 * RINGTRAIN_SECRET_FILE. When the coordinator re-forms the world after losing a rank, the
 * worker registers again; it exits when the run is over.
 */
export function registerWorkerCommand(program: Command): void {
  addTlsOptions(program
    .command('worker')
    .description('Run one worker process (started for you by `ringtrain train`, srun or a Kubernetes Indexed Job).')
    .option('--coordinator <url>', 'coordinator address, ws://host:port (default: from MASTER_ADDR and MASTER_PORT, or Slurm\'s node list and job id)')
    .option('--host <address>', 'address peers use to reach this worker; `auto`: this machine\'s host name (default: RINGTRAIN_HOST or 127.0.0.1)')
    .option('--bind <address>', 'interface the data plane listens on, e.g. 0.0.0.0 (default: RINGTRAIN_BIND or the --host address)')
    .option('--data-port <n>', 'port of the data plane (default: RINGTRAIN_DATA_PORT or any free port)')
    .option('--connect-timeout-ms <ms>', 'how long to wait for the coordinator and the peer mesh', '60000')
    .option('--max-frame-bytes <n>', 'largest frame accepted off the wire; a bigger one closes that connection', String(256 * 1024 * 1024))
    .option('--heartbeat-timeout-ms <ms>', 'a peer silent this long is declared dead (a busy worker answers only between kernels)', '300000')
    .option('--term-grace-ms <ms>', 'after SIGTERM, stay up this long for the coordinator\'s last checkpoint before exiting (a scheduler signals every process of a job at once)', '0')
    .option('--backend <name>', `compute backend: ${BACKENDS.join(', ')} (default: RINGTRAIN_BACKEND or auto)`)
    .option('--rejoin', 'when the world breaks (a peer or the coordinator lost), register with the coordinator again (default when the coordinator comes from the environment, as on a cluster)')
    .option('--no-rejoin', 'exit when the world breaks (what `ringtrain train` wants: it restarts every process itself)'))
    .action(async (opts: WorkerFlags) => {
      const tls = tlsFromFlags(opts, process.env);
      const env = readLaunchEnv(process.env, tls ? 'wss' : 'ws');
      const coordinatorUrl = opts.coordinator ?? env.coordinatorUrl;
      if (!coordinatorUrl) {
        throw new RingtrainError('NO_COORDINATOR', 'the worker does not know where the coordinator is', {
          hint: 'pass --coordinator ws://host:port, or set MASTER_ADDR and MASTER_PORT',
        });
      }
      const secret = readSecret(process.env, 'the worker');
      const host = resolveHost(opts.host ?? process.env.RINGTRAIN_HOST ?? '127.0.0.1');
      const bind = opts.bind ?? process.env.RINGTRAIN_BIND ?? host;
      const dataPortRaw = opts.dataPort ?? process.env.RINGTRAIN_DATA_PORT;
      const logger = createLogger({ name: `worker-${env.rank}`, file: process.env.RINGTRAIN_LOG_FILE });
      shareCores(env.localWorldSize);
      oneGpuPerWorker(env.localRank, env.localWorldSize);
      watchTerm(parseIntOption('--term-grace-ms', opts.termGraceMs, 0), logger);
      const run = () => runWorkerProcess({
        coordinatorUrl,
        secret,
        rank: env.rank,
        worldSize: env.worldSize,
        host,
        bind,
        dataPort: dataPortRaw === undefined ? 0 : parseIntOption('--data-port', dataPortRaw, 0),
        jobId: env.jobId,
        tls,
        connectTimeoutMs: parseIntOption('--connect-timeout-ms', opts.connectTimeoutMs, 1),
        logger,
        backend: parseBackend(opts.backend ?? process.env.RINGTRAIN_BACKEND ?? 'auto'),
        wsOptions: {
          maxFrameBytes: parseIntOption('--max-frame-bytes', opts.maxFrameBytes, 1024),
          ...heartbeatOptions(parseIntOption('--heartbeat-timeout-ms', opts.heartbeatTimeoutMs, 100)),
        },
      });
      const rejoin = opts.rejoin ?? opts.coordinator === undefined;
      for (let world = 2; ; world++) {
        try {
          if ((await run()) === 'done') return;
        } catch (err) {
          if (isRingtrainError(err) && err.code === 'CONNECT_FAILED' && /ENOTFOUND|EAI_AGAIN/.test(err.message)) {
            throw new RingtrainError('COORDINATOR_UNRESOLVED', `the coordinator's host in ${coordinatorUrl} does not resolve on this node (${err.message})`, {
              hint: 'it comes from --coordinator, else MASTER_ADDR, else the first host of SLURM_JOB_NODELIST: set MASTER_ADDR to a name or address every node resolves',
            });
          }
          if (isRingtrainError(err) && WRONG_START[err.code]) throw new RingtrainError(err.code, `the coordinator at ${coordinatorUrl} refused this worker (rank ${env.rank} of ${env.worldSize}${env.jobId ? `, job ${env.jobId}` : ''}): ${err.message}`, { hint: WRONG_START[err.code] });
          if (!rejoin || !isRingtrainError(err) || !WORLD_BROKE.has(err.code)) throw err;
          logger.warn(`rank ${env.rank}: the world broke (${err.code}: ${err.message})`);
        }
        logger.info(`rank ${env.rank}: registering again (world ${world})`);
      }
    });
}

export function parseBackend(raw: string): BackendName {
  if (!(BACKENDS as readonly string[]).includes(raw)) {
    throw new RingtrainError('BAD_OPTION', `--backend "${raw}" is not one of ${BACKENDS.join(', ')}${didYouMean(raw, BACKENDS)}`, {
      hint: 'use --backend auto to take the fastest that loads',
    });
  }
  return raw as BackendName;
}

/** `auto` is the machine's host name, which its peers on other nodes resolve. */
function resolveHost(raw: string): string {
  return raw === 'auto' ? hostname() : raw;
}

/**
 * Several workers on one machine share its cores: each gets cores / LOCAL_WORLD_SIZE BLAS threads
 * (or Slurm's cpus per task), unless the launcher set them. Read by OpenBLAS when the kernels load.
 */
function shareCores(localWorldSize: number | null): void {
  if (process.env.OPENBLAS_NUM_THREADS || process.env.OMP_NUM_THREADS) return;
  const perTask = Number(process.env.SLURM_CPUS_PER_TASK);
  const threads = Number.isInteger(perTask) && perTask > 0 ? perTask : localWorldSize ? Math.max(1, Math.floor(cpus().length / localWorldSize)) : null;
  if (threads === null) return;
  process.env.OPENBLAS_NUM_THREADS = String(threads);
  process.env.OMP_NUM_THREADS = String(threads);
}

/**
 * Several workers on one machine take one GPU each, by local rank. CUDA (the `gpu` backend)
 * reads CUDA_VISIBLE_DEVICES; it is set here unless the launcher bound the GPUs already (Slurm's
 * --gpus-per-task does). Vulkan (`webgpu`) has no such variable: there each worker must see one
 * GPU (docs/gpu.md).
 */
function oneGpuPerWorker(localRank: number, localWorldSize: number | null): void {
  if (process.env.CUDA_VISIBLE_DEVICES !== undefined || localWorldSize === null || localWorldSize < 2) return;
  process.env.CUDA_VISIBLE_DEVICES = String(localRank);
}

/**
 * A scheduler ending a job (Slurm's time limit, scancel, requeue; a pod's deletion) signals every
 * process at once, while the coordinator still needs the workers for its last checkpoint. With a
 * grace, the first SIGTERM is noted and the worker goes on until the coordinator sends it home
 * or the grace runs out; a second SIGTERM ends it at once.
 */
function watchTerm(graceMs: number, logger: Logger): void {
  if (graceMs === 0) return;
  let termed = false;
  process.on('SIGTERM', () => {
    if (termed) process.exit(143);
    termed = true;
    logger.info(`SIGTERM: staying up to ${graceMs} ms for the coordinator's checkpoint`);
    setTimeout(() => {
      logger.warn('the grace after SIGTERM ran out: exiting');
      process.exit(143);
    }, graceMs).unref();
  });
}
