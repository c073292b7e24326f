import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { Logger } from '@ringtrain/core';
import { Coordinator, LocalLauncher, describeExit } from '@ringtrain/coordinator';

/**
 * Runs `body` with a coordinator and P real worker processes on loopback, formed into a world;
 * stops every process afterwards, whatever happens.
 */
export async function withLocalWorld<T>(
  opts: { workers: number; logger: Logger; workerCommand: readonly string[]; jobTimeoutMs: number },
  body: (coordinator: Coordinator) => Promise<T>,
): Promise<T> {
  const secret = randomBytes(24).toString('hex');
  const coordinator = await Coordinator.start({ worldSize: opts.workers, secret, rendezvousTimeoutMs: 60000, jobTimeoutMs: opts.jobTimeoutMs, logger: opts.logger });
  const launcher = new LocalLauncher({
    worldSize: opts.workers,
    command: opts.workerCommand,
    coordinatorUrl: coordinator.url,
    secret,
    logger: opts.logger,
    threadsPerWorker: Math.max(1, Math.floor(cpus().length / opts.workers)),
  });
  launcher.onUnexpectedExit((e) => coordinator.fail(describeExit(e)));
  try {
    opts.logger.info(`starting ${opts.workers} worker processes`);
    launcher.start();
    await coordinator.waitForWorld();
    return await body(coordinator);
  } finally {
    await coordinator.shutdown('check finished');
    await launcher.stop();
  }
}
