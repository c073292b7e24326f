import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { Logger } from '@ringtrain/core';
import type { WsOptions } from '@ringtrain/transport';
import { Coordinator } from '../coordinator';
import { LocalLauncher, describeExit } from '../local-launcher';
import { Replicas } from './replicas';

export interface LocalWorldOptions {
  workers: number;
  logger: Logger;
  /** argv that starts one worker (`node dist/ringtrain.cjs worker …`). */
  workerCommand: readonly string[];
  jobTimeoutMs: number;
  rendezvousTimeoutMs?: number;
  /** BLAS threads per worker (default: the cores shared out). */
  threadsPerWorker?: number;
  /** Control-plane limits of the coordinator (the workers take theirs from their command). */
  wsOptions?: WsOptions;
}

/** A formed world: the coordinator, and typed calls on the training replicas. */
export interface LocalWorld {
  coordinator: Coordinator;
  replicas: Replicas;
}

/**
 * Runs `body` with a coordinator and P real worker processes on loopback, formed into a world;
 * stops every process afterwards, whatever happens. `check`, `eval` and `bench` run through it.
 */
export async function withLocalWorld<T>(opts: LocalWorldOptions, body: (world: LocalWorld) => Promise<T>): Promise<T> {
  const secret = randomBytes(24).toString('hex');
  const coordinator = await Coordinator.start({
    worldSize: opts.workers,
    secret,
    rendezvousTimeoutMs: opts.rendezvousTimeoutMs ?? 60000,
    jobTimeoutMs: opts.jobTimeoutMs,
    logger: opts.logger,
    wsOptions: opts.wsOptions,
  });
  const launcher = new LocalLauncher({
    worldSize: opts.workers,
    command: opts.workerCommand,
    coordinatorUrl: coordinator.url,
    secret,
    logger: opts.logger,
    threadsPerWorker: opts.threadsPerWorker ?? Math.max(1, Math.floor(cpus().length / opts.workers)),
  });
  launcher.onUnexpectedExit((e) => coordinator.fail(describeExit(e)));
  try {
    opts.logger.info(`starting ${opts.workers} worker processes`);
    launcher.start();
    await coordinator.waitForWorld();
    return await body({ coordinator, replicas: new Replicas(coordinator) });
  } finally {
    await coordinator.shutdown('finished');
    await launcher.stop();
  }
}
