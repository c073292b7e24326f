import type { Command } from 'commander';
import { RingtrainError, createLogger } from '@ringtrain/core';
import { heartbeatOptions } from '@ringtrain/transport';
import { runWorkerProcess } from '@ringtrain/worker';
import { parseIntOption } from '../check/config';
import { readLaunchEnv } from '../launch-env';
import { BACKENDS, didYouMean, type BackendName } from '@ringtrain/config';

/**
 * `ringtrain worker`: one worker process. Started by `ringtrain check|train` on one machine, or
 * by Slurm/Kubernetes on a cluster. Rank and world size come from torchrun-style variables
 * (RANK, WORLD_SIZE, or Slurm's own); the job secret from RINGTRAIN_SECRET.
 */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run one worker process (normally started for you by `ringtrain check`).')
    .option('--coordinator <url>', 'coordinator address, ws://host:port (default: from MASTER_ADDR and MASTER_PORT)')
    .option('--host <address>', 'address peers use to reach this worker', '127.0.0.1')
    .option('--connect-timeout-ms <ms>', 'how long to wait for the coordinator and the peer mesh', '60000')
    .option('--max-frame-bytes <n>', 'largest frame accepted off the wire; a bigger one closes that connection', String(256 * 1024 * 1024))
    .option('--heartbeat-timeout-ms <ms>', 'a peer silent this long is declared dead (a busy worker answers only between kernels)', '300000')
    .option('--backend <name>', `compute backend: ${BACKENDS.join(', ')} (default: RINGTRAIN_BACKEND or auto)`)
    .action(async (opts: { coordinator?: string; host: string; connectTimeoutMs: string; maxFrameBytes: string; heartbeatTimeoutMs: string; backend?: string }) => {
      const env = readLaunchEnv(process.env);
      const coordinatorUrl = opts.coordinator ?? env.coordinatorUrl;
      if (!coordinatorUrl) {
        throw new RingtrainError('NO_COORDINATOR', 'the worker does not know where the coordinator is', {
          hint: 'pass --coordinator ws://host:port, or set MASTER_ADDR and MASTER_PORT',
        });
      }
      const secret = process.env.RINGTRAIN_SECRET;
      if (!secret) {
        throw new RingtrainError('NO_SECRET', 'RINGTRAIN_SECRET is not set', { hint: 'the launcher passes the job secret in RINGTRAIN_SECRET; set it to the coordinator\'s secret' });
      }
      const logger = createLogger({ name: `worker-${env.rank}`, file: process.env.RINGTRAIN_LOG_FILE });
      await runWorkerProcess({
        coordinatorUrl,
        secret,
        rank: env.rank,
        worldSize: env.worldSize,
        host: opts.host,
        connectTimeoutMs: parseIntOption('--connect-timeout-ms', opts.connectTimeoutMs, 1),
        logger,
        backend: parseBackend(opts.backend ?? process.env.RINGTRAIN_BACKEND ?? 'auto'),
        wsOptions: {
          maxFrameBytes: parseIntOption('--max-frame-bytes', opts.maxFrameBytes, 1024),
          ...heartbeatOptions(parseIntOption('--heartbeat-timeout-ms', opts.heartbeatTimeoutMs, 100)),
        },
      });
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
