import { appendFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, createLogger, isRingtrainError, type Logger } from '@ringtrain/core';
import { loadResolvedConfig, parseResolvedConfig, type TrainConfig } from '@ringtrain/config';
import { Coordinator, RunRecords, TensorBoardLog, checkEvalSamples, type TrainEvent, checkSameModel, cleanUnfinished, fsError, hasEarlierRun, lockRunDir, openRunData, readManifest, supersedeNewer, findResumable, loadCheckpoint, newTrainControl, runDirOf, runTraining, type LoadedCheckpoint, type TrainControl } from '@ringtrain/coordinator';
import { heartbeatOptions } from '@ringtrain/transport';
import { parseIntOption } from '../check/config';
import { SLURM_PORT_BASE, SLURM_PORT_SPAN, coordinatorPort, jobIdOf, readSecret } from '../launch-env';
import { addTrainOptions, dashboardPlace, type DashboardPlace } from './train-options';
import { startDashboard, type Dashboard } from '@ringtrain/dashboard';
import { addTlsOptions, tlsFromFlags, type TlsFlags } from '../tls-flags';
import { DETERMINISTIC_FAILURES, resolveFromFlags, type TrainFlags } from './train';
import { resolveAutoStrategy } from '../plan/auto-strategy';

/** Error codes of the file system (not of sockets): the run directory's disk or permissions. */
const STORAGE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'ENOTDIR', 'ENOENT', 'EISDIR']);

interface CoordinatorFlags extends Omit<TrainFlags, 'resume' | 'overwrite'>, TlsFlags {
  resolvedConfig?: string;
  configStdin: boolean;
  resume?: string | boolean;
  host: string;
  port?: string;
  rendezvousTimeoutMs?: string;
}

/**
 * `ringtrain coordinator`: the coordinator process of a training run. Three ways to start it:
 *  - by `ringtrain train`, which hands it the run's config on stdin (never through a file another
 *    process could rewrite) and restarts it with its workers after a failure;
 *  - with `--resolved-config` (a run's config.json);
 *  - by a scheduler, with `train`'s own flags and the environment (WORLD_SIZE, MASTER_PORT or
 *    Slurm's job id, RINGTRAIN_SECRET(_FILE), RINGTRAIN_JOB_ID): it then owns its run
 *    directory, continues the run there when it holds one (a requeued or restarted job resumes by
 *    itself), and when a worker is lost re-forms the world from the latest checkpoint, up to
 *    --max-restarts times, while the scheduler restarts the lost worker.
 * It prints one JSON event per line on stdout (listening, world, step, eval, checkpoint, stopped,
 * done). SIGTERM, SIGINT or SIGHUP (or its stdin closing: the parent `train` is gone) ends the
 * run after the current step with a checkpoint; a second signal ends it at once. SIGUSR1 takes a
 * checkpoint after the current step and goes on.
 */
export function registerCoordinatorCommand(program: Command): void {
  addTlsOptions(addTrainOptions(program
    .command('coordinator')
    .description('Run the coordinator of a training run (started for you by `ringtrain train`; on a cluster by the launch script, with train\'s flags).'))
    .option('--resolved-config <file>', 'a run\'s config.json as `ringtrain train` writes it')
    .option('--config-stdin', 'read {"config", "resume"} as one JSON line on stdin (what `train` does)', false)
    .option('--resume [path]', 'continue from the newest good checkpoint of the run directory (or of the run or checkpoint directory given)')
    .option('--host <address>', 'interface to listen on (0.0.0.0: every interface; without TLS the secret and tensors then cross the network in clear)', '127.0.0.1')
    .option('--port <n>', 'port to listen on (default: MASTER_PORT, else derived from Slurm\'s job id, else any free port)')
    .option('--rendezvous-timeout-ms <ms>', 'how long the workers may take to join (default 120000; 600000 when started by a scheduler)'))
    .action(async (opts: CoordinatorFlags) => {
      const control = newTrainControl();
      // Signals count from the first moment: a stop asked for during startup is honoured after the first step.
      const early = createLogger({ name: 'coordinator' });
      watchSignals(control, early);
      if (!opts.configStdin && !opts.resolvedConfig) {
        await runClusterCoordinator(opts, control);
        return;
      }
      const secret = readSecret(process.env, 'the coordinator');
      const { cfg, resume } = opts.configStdin ? await readStdinConfig(control) : fromFlags(opts);
      const logger = createLogger({ name: 'coordinator', file: `${cfg.runDir}/coordinator.log` });
      const { emit, notice, records } = runOutput(cfg.runDir, logger);
      records.event('start', `coordinator pid ${process.pid}: ${cfg.workers} workers, ${cfg.strategy} attention`);
      const dashboard = await liveDashboard(dashboardPlace(opts), cfg.runDir, secret, control, logger, emit);
      const checkpoint = resume === null ? null : await resumable(resume, logger, notice);
      const coordinator = await Coordinator.start({
        worldSize: cfg.workers,
        secret,
        host: opts.host,
        port: listenPort(opts),
        rendezvousTimeoutMs: parseIntOption('--rendezvous-timeout-ms', opts.rendezvousTimeoutMs ?? '120000', 1),
        jobTimeoutMs: opts.stepTimeoutMs === undefined ? cfg.stepTimeoutMs : parseIntOption('--step-timeout-ms', opts.stepTimeoutMs, 1),
        logger,
        wsOptions: heartbeatOptions(cfg.heartbeatTimeoutMs),
        jobId: jobIdOf(process.env),
        tls: tlsFromFlags(opts, process.env) ?? undefined,
      });
      emit({ event: 'listening', url: coordinator.url });
      try {
        await coordinator.waitForWorld();
        emit({ event: 'world', workers: cfg.workers });
        records.world(coordinator.workers);
        await runTraining(cfg, coordinator, logger, emit, { resume: checkpoint, control });
      } catch (err) {
        records.event('failure', (err as Error)?.message ?? String(err));
        throw storageError(err, cfg.runDir);
      } finally {
        await coordinator.shutdown('training finished');
        await dashboard?.close();
        process.stdin.destroy(); // the liveness pipe from `train` would keep this process alive
      }
    });
}

/** A port in use, said with what sets it on a cluster. */
async function startOrExplain(port: number, start: () => Promise<Coordinator>): Promise<Coordinator> {
  try {
    return await start();
  } catch (err) {
    if (!isRingtrainError(err) || err.code !== 'LISTEN_FAILED') throw err;
    throw new RingtrainError('PORT_IN_USE', `the coordinator cannot listen on port ${port}: ${err.message}`, {
      hint: `another process holds it (a coordinator of an earlier job still running?); the port comes from --port, else MASTER_PORT, else ${SLURM_PORT_BASE} + the Slurm job id mod ${SLURM_PORT_SPAN}: pass another --port or MASTER_PORT, and give the workers the same`,
    });
  }
}

/** A file system failure (a full disk, a directory made read-only) is the run directory's problem, said as such. */
function storageError(err: unknown, runDir: string): unknown {
  return STORAGE_FAILURES.has((err as NodeJS.ErrnoException).code ?? '') ? fsError(err, runDir, 'write into the run directory') : err;
}

function listenPort(opts: CoordinatorFlags): number {
  if (opts.port !== undefined) return parseIntOption('--port', opts.port, 0);
  return coordinatorPort(process.env) ?? 0;
}

/**
 * The coordinator as a scheduler starts it: train's flags, the world size from the environment,
 * a fixed run directory it continues when it holds a run, and the world re-formed from the
 * latest checkpoint after a lost worker.
 */
async function runClusterCoordinator(opts: CoordinatorFlags, control: TrainControl): Promise<void> {
  const secret = readSecret(process.env, 'the coordinator');
  const tls = tlsFromFlags(opts, process.env) ?? undefined;
  const runDirFlag = opts.runDir ?? process.env.RINGTRAIN_RUN_DIR;
  if (!runDirFlag) {
    throw new RingtrainError('NO_RUN_DIR', 'a coordinator started by a scheduler needs a fixed run directory', {
      hint: 'pass --run-dir DIR (on storage every restart of the job sees): a requeued or restarted job continues the run there',
    });
  }
  const envWorld = process.env.WORLD_SIZE || process.env.SLURM_NTASKS;
  if (opts.workers !== undefined && envWorld !== undefined && Number(envWorld) !== Number(opts.workers)) {
    throw new RingtrainError('WORLD_SIZE_MISMATCH', `--workers ${opts.workers} disagrees with the environment's world size ${envWorld} (WORLD_SIZE or SLURM_NTASKS)`, { hint: 'drop --workers, or start as many workers as it says' });
  }
  const flags = { ...opts, resume: undefined, runDir: runDirFlag, workers: opts.workers ?? envWorld };
  // A requeued or restarted job keeps the strategy its run chose (config.json), never planning again.
  const cfg = resolveFromFlags(await resolveAutoStrategy(flags, resolveFromFlags, (line) => process.stderr.write(`${line}\n`), resolve(runDirFlag)));
  const { eval: heldOut } = openRunData(cfg);
  if (heldOut) checkEvalSamples(heldOut, cfg.evalSamples, '--eval-samples');
  const jobId = jobIdOf(process.env);
  const lock = lockRunDir(cfg.runDir, { jobId });
  const logger = createLogger({ name: 'coordinator', file: join(cfg.runDir, 'coordinator.log') });
  const { emit, notice, records } = runOutput(cfg.runDir, logger);
  records.event('start', `coordinator pid ${process.pid}${jobId ? ` of job ${jobId}` : ''}: ${cfg.workers} workers, ${cfg.strategy} attention`);
  if (lock.tookOverFrom) notice(`took over the lock of ${cfg.runDir} from ${lock.tookOverFrom}`);
  let resume = hasEarlierRun(cfg.runDir);
  if (resume) {
    // A requeued or restarted job: the same run goes on. A run of another model is refused.
    const dir = findResumable(cfg.runDir, () => undefined);
    if (dir) checkSameModel(readManifest(dir), cfg.model, dir);
    notice(`${cfg.runDir} holds this run already: continuing it from its latest checkpoint`);
  }
  writeFileSync(join(cfg.runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const port = listenPort(opts);
  const dashboard = await liveDashboard(dashboardPlace(opts), cfg.runDir, secret, control, logger, emit);
  try {
    for (let restarts = 0; ; restarts++) {
      const checkpoint = resume ? await resumable(cfg.runDir, logger, notice) : null;
      const coordinator = await startOrExplain(port, () => Coordinator.start({
        worldSize: cfg.workers,
        secret,
        host: opts.host,
        port,
        rendezvousTimeoutMs: parseIntOption('--rendezvous-timeout-ms', opts.rendezvousTimeoutMs ?? '600000', 1),
        jobTimeoutMs: cfg.stepTimeoutMs,
        logger,
        wsOptions: heartbeatOptions(cfg.heartbeatTimeoutMs),
        jobId,
        tls,
      }));
      emit({ event: 'listening', url: coordinator.url, ...(jobId ? { job: jobId } : {}) });
      let failure: unknown;
      try {
        await coordinator.waitForWorld();
        emit({ event: 'world', workers: cfg.workers });
        records.world(coordinator.workers);
        await runTraining(cfg, coordinator, logger, emit, { resume: checkpoint, control });
        await coordinator.shutdown(control.stopRequested ? `stopped: ${control.stopRequested}` : 'training finished');
        return;
      } catch (err) {
        failure = storageError(err, cfg.runDir);
      }
      const code = isRingtrainError(failure) ? failure.code : 'INTERNAL';
      const message = (failure as Error)?.message ?? String(failure);
      if (restarts >= cfg.maxRestarts || control.stopRequested || DETERMINISTIC_FAILURES.has(code) || code === 'RENDEZVOUS_TIMEOUT' || !isRingtrainError(failure)) {
        records.event('failure', message);
        await coordinator.shutdown(`the run failed: ${message}`);
        throw failure;
      }
      const record = { restart: restarts + 1, of: cfg.maxRestarts, failedAt: new Date().toISOString(), reason: `[${code}] ${message.replace(/\s*\n\s*/g, ' ').slice(0, 300)}`, rejoin: true };
      appendFileSync(join(cfg.runDir, 'restarts.jsonl'), JSON.stringify(record) + '\n');
      const lost = isRingtrainError(failure) && typeof failure.details?.rank === 'number' ? failure.details.rank : null;
      records.broke(lost, record.reason);
      notice(`the world broke (${record.reason}); re-forming it (restart ${record.restart} of ${cfg.maxRestarts}) from the latest checkpoint: waiting for every rank to register again`);
      await coordinator.shutdown(`re-forming the world after: ${message.slice(0, 200)}`, { rejoin: true });
      resume = true;
    }
  } finally {
    await dashboard?.close();
    lock.release();
  }
}

/**
 * The live dashboard of the run, served by this process: the run directory's files, plus the
 * actions "checkpoint now" and "stop gracefully" (after the current step), which need the job
 * secret. Its URL goes out as an event (`train` prints it) and into events.jsonl.
 */
async function liveDashboard(place: DashboardPlace | null, runDir: string, secret: string, control: TrainControl, logger: Logger, emit: (e: object) => void): Promise<Dashboard | null> {
  if (place === null) return null;
  let dashboard: Dashboard;
  try {
    dashboard = await startDashboard({
      runDir,
      host: place.host,
      port: place.port,
      secret,
      logger,
      actions: {
        checkpoint: () => {
          control.checkpointRequested = true;
          recordSignal('dashboard', 'checkpoint after the current step');
        },
        stop: () => {
          control.stopRequested ??= 'asked from the dashboard';
          recordSignal('dashboard', 'stopping after the current step, with a checkpoint');
        },
      },
    });
  } catch (err) {
    // The dashboard is for watching: a port in use costs the run its dashboard, never the run.
    const message = `no live dashboard: ${(err as Error)?.message ?? String(err)}; the run goes on (watch it with \`ringtrain dashboard ${runDir}\`)`;
    logger.warn(message);
    emit({ event: 'notice', message });
    return null;
  }
  emit({ event: 'dashboard', url: dashboard.url });
  return dashboard;
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
/** Where a signal is recorded once the run directory is known (events.jsonl). */
let recordSignal: (signal: string, what: string) => void = () => undefined;

function watchSignals(control: TrainControl, logger: Logger): void {
  const said = (signal: string, what: string, level: 'info' | 'warn' = 'info') => {
    logger[level](`${signal}: ${what}`);
    recordSignal(signal, what);
  };
  process.on('SIGUSR1', () => {
    control.checkpointRequested = true;
    said('SIGUSR1', 'checkpoint after the current step');
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (control.stopRequested) {
        said(signal, 'again: stopping at once, without a checkpoint', 'warn');
        process.exit(130);
      }
      control.stopRequested = signal;
      said(signal, 'stopping after the current step, with a checkpoint');
    });
  }
}

/**
 * The coordinator's output: JSON events on stdout for `train` (or the job's log), the run's own
 * records for people and the dashboard (events.jsonl, workers.json; signals are recorded as
 * events too) and TensorBoard event files (RUN/tb).
 */
function runOutput(runDir: string, logger: Logger): { emit: (e: object) => void; notice: (message: string) => void; records: RunRecords } {
  const records = new RunRecords(runDir);
  const tensorboard = new TensorBoardLog(runDir);
  const emit = (e: object) => {
    process.stdout.write(JSON.stringify(e) + '\n');
    if (!('event' in e) || !TRAIN_EVENTS.has(String(e.event))) return;
    records.train(e as TrainEvent);
    tensorboard.train(e as TrainEvent);
  };
  recordSignal = (signal, what) => records.event('signal', `${signal}: ${what}`);
  return {
    emit,
    notice: (message: string) => {
      logger.warn(message);
      emit({ event: 'notice', message });
    },
    records,
  };
}

const TRAIN_EVENTS = new Set(['step', 'eval', 'checkpoint', 'notice', 'resumed', 'stopped', 'done']);

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
