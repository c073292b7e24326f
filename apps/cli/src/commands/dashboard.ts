import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, createLogger } from '@ringtrain/core';
import { startDashboard } from '@ringtrain/dashboard';
import { parseIntOption } from '../check/config';

interface DashboardFlags {
  host: string;
  port: string;
}

/**
 * `ringtrain dashboard RUN_DIR`: serves a run's dashboard from its files alone, read-only (no
 * actions: it does not reach the run's processes), for a finished run or one still training
 * (it follows the files as they grow). Prints the URL and serves until Ctrl-C.
 */
export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the dashboard of a run from its directory, read-only: loss, throughput, step time, the ring timeline, workers, checkpoints, events. Prints the URL; Ctrl-C stops it.')
    .argument('<run-dir>', 'the run directory (--run-dir of `ringtrain train`)')
    .option('--host <host>', 'interface to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '0')
    .action(async (runDir: string, o: DashboardFlags) => {
      const dir = resolve(runDir);
      checkRunDir(dir);
      const port = parseIntOption('--port', o.port, 0);
      const logger = createLogger({ name: 'dashboard' });
      const dashboard = await startDashboard({ runDir: dir, host: o.host, port, secret: null, logger });
      process.stdout.write(`dashboard of ${dir}: ${dashboard.url} (read-only; Ctrl-C to stop)\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void dashboard.close().then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

/** A run directory is one `ringtrain train` wrote: it has config.json from its first moment. */
function checkRunDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // said below
  }
  if (!isDir) throw new RingtrainError('NOT_A_RUN', `${dir} does not exist or is not a directory`, { hint: 'pass the --run-dir of a `ringtrain train` run' });
  if (!existsSync(join(dir, 'config.json'))) {
    throw new RingtrainError('NOT_A_RUN', `${dir} holds no run: ${join(dir, 'config.json')} does not exist`, {
      hint: '`ringtrain train` writes config.json as it starts; pass its --run-dir (or wait for it to start)',
    });
  }
}
