import { resolve } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, createLogger, type Logger } from '@ringtrain/core';
import { loadResolvedConfig, parseResolvedConfig, type TrainConfig } from '@ringtrain/config';
import { Coordinator, cleanUnfinished, fsError, supersedeNewer, findResumable, loadCheckpoint, newTrainControl, runDirOf, runTraining, type LoadedCheckpoint, type TrainControl } from '@ringtrain/coordinator';
import { heartbeatOptions } from '@ringtrain/transport';
import { parseIntOption } from '../check/config';

/** Error codes of the file system (not of sockets): the run directory's disk or permissions. */
const STORAGE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'ENOTDIR', 'ENOENT', 'EISDIR']);

interface CoordinatorFlags {
  resolvedConfig?: string;
  configStdin: boolean;
  resume?: string | boolean;
  host: string;
  port: string;
  rendezvousTimeoutMs: string;
  stepTimeoutMs?: string;
}

/**
 * `ringtrain coordinator`: the coordinator process of a training run. `ringtrain train` starts it
 * and hands it the run's config on stdin (never through a file another process could rewrite);
 * on a cluster it runs beside `srun ringtrain worker` with `--resolved-config`. It prints one
 * JSON event per line on stdout (listening, world, step, eval, checkpoint, stopped, done).
 * SIGTERM, SIGINT or SIGHUP (or its stdin closing: the parent `train` is gone) ends the run
 * after the current step with a checkpoint; a second signal ends it at once. SIGUSR1 takes a
 * checkpoint after the current step and goes on.
 */
export function registerCoordinatorCommand(program: Command): void {
  program
    .command('coordinator')
    .description('Run the coordinator of a training run (started for you by `ringtrain train`).')
    .option('--resolved-config <file>', 'a run\'s config.json as `ringtrain train` writes it')
    .option('--config-stdin', 'read {"config", "resume"} as one JSON line on stdin (what `train` does)', false)
    .option('--resume [path]', 'continue from the newest good checkpoint of the run directory (or of the run or checkpoint directory given)')
    .option('--host <address>', 'interface to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', '0')
    .option('--rendezvous-timeout-ms <ms>', 'how long the workers may take to join', '120000')
    .option('--step-timeout-ms <ms>', 'how long one step may take (default: the config\'s stepTimeoutMs)')
    .action(async (opts: CoordinatorFlags) => {
      const secret = process.env.RINGTRAIN_SECRET;
      if (!secret) throw new RingtrainError('NO_SECRET', 'RINGTRAIN_SECRET is not set', { hint: 'set RINGTRAIN_SECRET to the job secret the workers also get' });
      const control = newTrainControl();
      // Signals count from the first moment: a stop asked for during startup is honoured after the first step.
      const early = createLogger({ name: 'coordinator' });
      watchSignals(control, early);
      const { cfg, resume } = opts.configStdin ? await readStdinConfig(control) : fromFlags(opts);
      const logger = createLogger({ name: 'coordinator', file: `${cfg.runDir}/coordinator.log` });
      const emit = (e: object) => process.stdout.write(JSON.stringify(e) + '\n');
      const notice = (message: string) => {
        logger.warn(message);
        emit({ event: 'notice', message });
      };
      const checkpoint = resume === null ? null : await resumable(resume, logger, notice);
      const coordinator = await Coordinator.start({
        worldSize: cfg.workers,
        secret,
        host: opts.host,
        port: parseIntOption('--port', opts.port, 0),
        rendezvousTimeoutMs: parseIntOption('--rendezvous-timeout-ms', opts.rendezvousTimeoutMs, 1),
        jobTimeoutMs: opts.stepTimeoutMs === undefined ? cfg.stepTimeoutMs : parseIntOption('--step-timeout-ms', opts.stepTimeoutMs, 1),
        logger,
        wsOptions: heartbeatOptions(cfg.heartbeatTimeoutMs),
      });
      emit({ event: 'listening', url: coordinator.url });
      try {
        await coordinator.waitForWorld();
        emit({ event: 'world', workers: cfg.workers });
        await runTraining(cfg, coordinator, logger, emit, { resume: checkpoint, control });
      } catch (err) {
        // A file system failure (a full disk, a directory made read-only) is the run directory's problem, said as such.
        if (STORAGE_FAILURES.has((err as NodeJS.ErrnoException).code ?? '')) throw fsError(err, cfg.runDir, 'write into the run directory');
        throw err;
      } finally {
        await coordinator.shutdown('training finished');
        process.stdin.destroy(); // the liveness pipe from `train` would keep this process alive
      }
    });
}

function fromFlags(opts: CoordinatorFlags): { cfg: TrainConfig; resume: string | null } {
  if (!opts.resolvedConfig) throw new RingtrainError('NO_CONFIG', 'the coordinator needs the run\'s config', { hint: 'pass --resolved-config runs/<run>/config.json' });
  const cfg = loadResolvedConfig(opts.resolvedConfig);
  return { cfg, resume: opts.resume === undefined || opts.resume === false ? null : opts.resume === true ? cfg.runDir : opts.resume };
}

/** The first stdin line is {"config", "resume"}; the end of stdin afterwards means the parent is gone. */
async function readStdinConfig(control: TrainControl): Promise<{ cfg: TrainConfig; resume: string | null }> {
  // Read with a listener, not `for await` (leaving that loop would destroy stdin, and with it the
  // end-of-input that tells this process its parent is gone).
  const text = await new Promise<string>((resolve) => {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      const had = buffered.includes('\n');
      buffered += chunk;
      if (!had && buffered.includes('\n')) resolve(buffered);
    });
    process.stdin.on('end', () => {
      resolve(buffered);
      control.stopRequested ??= 'the train process is gone (stdin closed)';
    });
  });
  // Watched, but not a reason to stay alive: a coordinator that ends (or fails to start) exits.
  if ('unref' in process.stdin && typeof process.stdin.unref === 'function') process.stdin.unref();
  let value: { config?: unknown; resume?: unknown };
  try {
    value = JSON.parse(text.split('\n')[0]);
  } catch {
    throw new RingtrainError('BAD_CONFIG', 'stdin did not start with a JSON line {"config", "resume"}', { hint: 'use --resolved-config FILE when starting the coordinator by hand' });
  }
  const resume = value.resume;
  if (resume !== null && typeof resume !== 'string') throw new RingtrainError('BAD_CONFIG', 'stdin: "resume" must be a path or null');
  return { cfg: parseResolvedConfig(value.config, 'the config on stdin'), resume };
}

/**
 * The first SIGTERM/SIGINT/SIGHUP asks for a stop after the current step (with a checkpoint);
 * the second ends the process. SIGUSR1 asks for a checkpoint after the current step.
 */
function watchSignals(control: TrainControl, logger: Logger): void {
  process.on('SIGUSR1', () => {
    control.checkpointRequested = true;
    logger.info('SIGUSR1: checkpoint after the current step');
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (control.stopRequested) {
        logger.warn(`${signal} again: stopping at once, without a checkpoint`);
        process.exit(130);
      }
      control.stopRequested = signal;
      logger.info(`${signal}: stopping after the current step, with a checkpoint`);
    });
  }
}

async function resumable(path: string, logger: Logger, notice: (message: string) => void): Promise<LoadedCheckpoint | null> {
  const dir = findResumable(path, notice);
  const runDir = dir ? runDirOf(dir) : path;
  for (const removed of await cleanUnfinished(runDir)) notice(`removed ${removed}: a save that did not finish`);
  if (!dir) {
    notice(`no checkpoint in ${path}: starting from step 0`);
    return null;
  }
  for (const aside of await supersedeNewer(resolve(dir))) notice(`moved ${aside.replace(/\.superseded$/, '')} aside to ${aside}: the run goes on from an older checkpoint`);
  logger.info(`resuming from ${dir}`);
  return loadCheckpoint(dir);
}
