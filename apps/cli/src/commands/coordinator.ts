import type { Command } from 'commander';
import { RingtrainError, createLogger } from '@ringtrain/core';
import { loadResolvedConfig } from '@ringtrain/config';
import { Coordinator, runTraining } from '@ringtrain/coordinator';
import { parseIntOption } from '../check/config';

/**
 * `ringtrain coordinator`: the coordinator process of a training run. `ringtrain train` starts it
 * on one machine; on a cluster it runs beside `srun ringtrain worker` (see README). It prints
 * one JSON event per line on stdout (listening, step, eval, done) for the launcher's progress.
 */
export function registerCoordinatorCommand(program: Command): void {
  program
    .command('coordinator')
    .description('Run the coordinator of a training run (started for you by `ringtrain train`).')
    .requiredOption('--resolved-config <file>', 'the run\'s config.json written by `ringtrain train`')
    .option('--host <address>', 'interface to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', '0')
    .option('--rendezvous-timeout-ms <ms>', 'how long the workers may take to join', '120000')
    .option('--step-timeout-ms <ms>', 'how long one step may take', '1800000')
    .action(async (opts: { resolvedConfig: string; host: string; port: string; rendezvousTimeoutMs: string; stepTimeoutMs: string }) => {
      const secret = process.env.RINGTRAIN_SECRET;
      if (!secret) throw new RingtrainError('NO_SECRET', 'RINGTRAIN_SECRET is not set', { hint: 'set RINGTRAIN_SECRET to the job secret the workers also get' });
      const cfg = loadResolvedConfig(opts.resolvedConfig);
      const logger = createLogger({ name: 'coordinator', file: `${cfg.runDir}/coordinator.log` });
      const emit = (e: object) => process.stdout.write(JSON.stringify(e) + '\n');
      const coordinator = await Coordinator.start({
        worldSize: cfg.workers,
        secret,
        host: opts.host,
        port: parseIntOption('--port', opts.port, 0),
        rendezvousTimeoutMs: parseIntOption('--rendezvous-timeout-ms', opts.rendezvousTimeoutMs, 1),
        jobTimeoutMs: parseIntOption('--step-timeout-ms', opts.stepTimeoutMs, 1),
        logger,
      });
      emit({ event: 'listening', url: coordinator.url });
      try {
        await coordinator.waitForWorld();
        emit({ event: 'world', workers: cfg.workers });
        await runTraining(cfg, coordinator, logger, emit);
      } finally {
        await coordinator.shutdown('training finished');
      }
    });
}
