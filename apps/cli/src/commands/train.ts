import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { RingtrainError, createLogger, optionError, type Logger } from '@ringtrain/core';
import { DOC_MASK_MODES, POSITION_MODES, TRAIN_KNOB_NAMES, assertRunFits, didYouMean, loadConfigFile, loadResolvedConfig, resolveTrainConfig, type TrainConfig, type TrainInput, type TrainStage, BACKENDS } from '@ringtrain/config';
import { LocalLauncher, MANIFEST_FILE, checkEvalSamples, checkRunDirPath, checkSameModel, clearEarlierRun, findResumable, readManifest, describeExit, hasEarlierRun, lockRunDir, openRunData, runDirOf, type TrainEvent } from '@ringtrain/coordinator';
import { parseIntOption, parseNumberOption } from '../check/config';
import { ProgressLine } from '../train/progress';
import { cliEntry, workerCommand } from '../cli-entry';
import { addTrainOptions, dashboardPlace, type DashboardPlace } from './train-options';
import { EXIT, afterStart } from '../exit-codes';
import { resolveAutoStrategy } from '../plan/auto-strategy';

export interface TrainFlags {
  config?: string;
  workers?: string;
  strategy?: string;
  ulyssesDegree?: string;
  ringLayout?: string;
  seqLen?: string;
  batchSize?: string;
  steps?: string;
  model?: string;
  data?: string;
  docMask?: string;
  positions?: string;
  valFraction?: string;
  valData?: string;
  runDir?: string;
  seed?: string;
  backend?: string;
  lr?: string;
  evalEvery?: string;
  evalSamples?: string;
  traceEvery?: string;
  /** The live dashboard (not part of the run's config). */
  dashboard?: boolean;
  dashboardHost?: string;
  dashboardPort?: string;
  checkpointEvery?: string;
  checkpointEveryMinutes?: string;
  keepLast?: string;
  maxRestarts?: string;
  heartbeatTimeoutMs?: string;
  stepTimeoutMs?: string;
  resume?: boolean;
  overwrite?: boolean;
}

export function registerTrainCommand(program: Command): void {
  addTrainOptions(program
    .command('train')
    .description('Train the reference model with P worker processes: starts the coordinator and the workers, shows progress, evaluates on held-out data.'))
    .option('--resume', 'continue the run directory from its newest good checkpoint (from step 0 when it has none)', false)
    .option('--overwrite', 'start over in a run directory that holds an earlier run (its files and checkpoints are removed)', false)
    .action(trainWith);

  program
    .command('resume')
    .argument('<path>', 'a run directory, or one of its checkpoints/step-N directories')
    .description('Continue a stopped or crashed run from its newest good checkpoint (or the checkpoint given), with the run\'s own config; the world size, strategy, backend and step count may change.')
    .option('--workers <n>', 'worker processes (P); the state and the data stream are re-cut')
    .option('--strategy <name>', 'ring, striped, zigzag, ulysses, rsa or hybrid')
    .option('--ulysses-degree <n>', 'hybrid: ranks per Ulysses group (dividing the workers and the heads)')
    .option('--ring-layout <name>', 'hybrid: layout of the ring across groups: ring, striped or zigzag')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')}`)
    .option('--steps <n>', 'steps of the main stage (more, to train on)')
    .action(async (path: string, o: { workers?: string; strategy?: string; ulyssesDegree?: string; ringLayout?: string; backend?: string; steps?: string }) => {
      const runDir = existsSync(join(path, MANIFEST_FILE)) ? runDirOf(resolve(path)) : resolve(path);
      const configFile = join(runDir, 'config.json');
      if (!existsSync(configFile)) throw new RingtrainError('RUN_NOT_FOUND', `${path} is not a run directory: ${configFile} does not exist`, { hint: 'pass the --run-dir of an earlier `ringtrain train`' });
      const n = (name: string, v: string | undefined) => (v === undefined ? undefined : parseIntOption(name, v, 1));
      const degree = o.ulyssesDegree === undefined ? undefined : parseIntOption('--ulysses-degree', o.ulyssesDegree, 0);
      const cfg = loadResolvedConfig(configFile, { workers: n('--workers', o.workers), strategy: o.strategy, ulyssesDegree: degree, ringLayout: o.ringLayout, backend: o.backend, steps: n('--steps', o.steps) });
      assertRunFits('resume', cfg, 'train', { seqLen: () => null, batchSize: () => null, workers: '--workers', layers: null });
      process.exitCode = (await launchTraining({ ...cfg, runDir }, { resume: resolve(path), overwrite: false })) ? EXIT.ok : EXIT.failed;
    });
}

/** `ringtrain train` (and `launch local`): checks the run, then trains it on this machine. */
export async function trainWith(given: TrainFlags): Promise<void> {
  const runDir = given.runDir ?? (given.config ? loadConfigFile(given.config).runDir : undefined);
  const flags = await resolveAutoStrategy(given, resolveFromFlags, (line) => process.stdout.write(`${line}\n`), given.resume && runDir ? resolve(runDir) : null);
  const cfg = resolveFromFlags(flags);
  // Sizes that cannot fit, and a run directory that cannot be one, are refused before anything is created or started.
  assertRunFits('train', cfg, 'train', TRAIN_KNOB_NAMES);
  checkRunDirPath(cfg.runDir);
  // Open each stage's data and the held-out data once here, so a missing or malformed file, or
  // a held-out part smaller than --eval-samples, fails before any process starts.
  const { eval: heldOut } = openRunData(cfg);
  if (heldOut) checkEvalSamples(heldOut, cfg.evalSamples, '--eval-samples');
  const summary = await launchTraining(cfg, { resume: flags.resume ? cfg.runDir : null, overwrite: flags.overwrite ?? false, dashboard: dashboardPlace(flags) });
  process.exitCode = summary ? EXIT.ok : EXIT.failed;
}

export function resolveFromFlags(f: TrainFlags): TrainConfig {
  const file = f.config ? loadConfigFile(f.config) : {};
  const n = (name: string, v: string | undefined) => (v === undefined ? undefined : parseIntOption(name, v, 0));
  const flags: TrainInput = {
    workers: n('--workers', f.workers),
    strategy: f.strategy,
    ulyssesDegree: n('--ulysses-degree', f.ulyssesDegree),
    ringLayout: f.ringLayout,
    seqLen: n('--seq-len', f.seqLen),
    batchSize: n('--batch-size', f.batchSize),
    steps: n('--steps', f.steps),
    model: f.model,
    data: f.data,
    docMask: choiceOption('--doc-mask', f.docMask, DOC_MASK_MODES),
    positions: choiceOption('--positions', f.positions, POSITION_MODES),
    valFraction: f.valFraction === undefined ? undefined : fractionOption('--val-fraction', f.valFraction),
    valData: f.valData,
    runDir: f.runDir,
    seed: n('--seed', f.seed),
    backend: f.backend,
    lr: f.lr === undefined ? undefined : Number(f.lr),
    evalEvery: n('--eval-every', f.evalEvery),
    evalSamples: n('--eval-samples', f.evalSamples),
    traceEvery: n('--trace-every', f.traceEvery),
    checkpointEvery: n('--checkpoint-every', f.checkpointEvery),
    checkpointEveryMinutes: f.checkpointEveryMinutes === undefined ? undefined : parseNumberOption('--checkpoint-every-minutes', f.checkpointEveryMinutes),
    keepLast: n('--keep-last', f.keepLast),
    maxRestarts: n('--max-restarts', f.maxRestarts),
    heartbeatTimeoutMs: n('--heartbeat-timeout-ms', f.heartbeatTimeoutMs),
    stepTimeoutMs: n('--step-timeout-ms', f.stepTimeoutMs),
  };
  // Unique without coordination: the time to the second, and random bits for runs started in the same second.
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const cfg = resolveTrainConfig(file, flags, join('runs', `run-${stamp}-${randomBytes(3).toString('hex')}`));
  return { ...cfg, runDir: resolve(cfg.runDir) };
}

/** A flag that takes one of `choices`; anything else is refused naming the flag, the value, the choices and the nearest one. */
function choiceOption<T extends string>(option: string, raw: string | undefined, choices: readonly T[]): T | undefined {
  if (raw === undefined || choices.includes(raw as T)) return raw as T | undefined;
  throw new RingtrainError('BAD_OPTION', `${option} ${JSON.stringify(raw)} is not one of ${choices.join(', ')}${didYouMean(raw, choices)}`, {
    hint: `pass ${option} with one of ${choices.join(', ')}`,
    details: { option, value: raw },
  });
}

/** A fraction strictly between 0 and 1. */
function fractionOption(option: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !(value > 0 && value < 1)) throw optionError(option, raw, 'a fraction greater than 0 and less than 1, e.g. 0.01');
  return value;
}

/**
 * Runs a training run to its end: locks the run directory (never silently reusing one: an
 * earlier run in it is resumed, removed with `overwrite`, or the start is refused), then runs
 * sessions — a coordinator process and P workers — until one finishes or stops. A session that
 * fails (a worker died or hung, a step got stuck, the coordinator died) is followed, up to
 * `maxRestarts` times with backoff, by a new one resumed from the latest checkpoint. SIGTERM,
 * SIGINT or SIGHUP stops the run after the current step with a checkpoint; a second one stops
 * it at once. Leaves no process behind.
 */
export async function launchTraining(cfg: TrainConfig, how: { resume: string | null; overwrite: boolean; dashboard?: DashboardPlace | null }): Promise<boolean> {
  const lock = lockRunDir(cfg.runDir);
  if (hasEarlierRun(cfg.runDir) && how.resume === null) {
    if (!how.overwrite) {
      throw new RingtrainError('RUN_DIR_EXISTS', `run directory ${cfg.runDir} holds an earlier run`, {
        hint: 'continue it with --resume (or `ringtrain resume DIR`), start over with --overwrite, or pass another --run-dir',
      });
    }
    clearEarlierRun(cfg.runDir);
  }
  if (how.resume !== null) {
    // Refused before config.json is rewritten: a mistaken --resume must not replace the run's own config.
    const dir = findResumable(how.resume, () => undefined);
    if (dir) checkSameModel(readManifest(dir), cfg.model, dir);
  }
  writeFileSync(join(cfg.runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const secret = writeJobSecret(cfg.runDir);
  // Every session (a restart) serves the dashboard at the first one's address, so its URL holds.
  const dashboard = { place: how.dashboard === undefined ? { host: '127.0.0.1', port: 0 } : how.dashboard, told: false };
  const logger = createLogger({ name: 'train', file: join(cfg.runDir, 'train.log') });
  if (lock.tookOverFrom) logger.warn(`took over the lock of ${cfg.runDir} from ${lock.tookOverFrom}`);
  const progress = new ProgressLine(process.stdout);
  process.stdout.write(`training ${cfg.model.layers}-layer d=${cfg.model.dModel} model, ${cfg.workers} workers, ${cfg.strategy} attention, seq ${cfg.seqLen} × batch ${cfg.batchSize}, ${cfg.steps} steps${warmupNote(cfg)}, data ${cfg.data.join(',')}\n`);

  const signals = { count: 0, current: null as Session | null };
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals.count === 1) {
      progress.note(`${signal}: stopping after the current step and saving a checkpoint (again to stop at once)`);
      signals.current?.stop();
      return;
    }
    progress.note(`${signal} again: stopping at once`);
    signals.current?.kill();
    process.exit(EXIT.interrupted);
  };
  const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const s of stopSignals) process.on(s, onSignal);
  const onCheckpointSignal = () => signals.current?.checkpointNow();
  process.on('SIGUSR1', onCheckpointSignal);
  try {
    let resume = how.resume;
    let recovery: ((step: number) => void) | undefined;
    for (let restarts = 0; ; restarts++) {
      const session = new Session(secret, cfg, resume, logger, progress, recovery, dashboard);
      signals.current = session;
      const outcome = await session.run();
      if (outcome.ok) return true;
      if (restarts >= cfg.maxRestarts || signals.count > 0 || !outcome.transient) throw afterStart(outcome.error);
      const backoffMs = Math.min(30_000, 1000 * 2 ** restarts);
      const record = { restart: restarts + 1, of: cfg.maxRestarts, failedAt: new Date(outcome.failedAt).toISOString(), reason: `[${outcome.error.code}] ${outcome.error.message.replace(/\s*\n\s*/g, ' ').slice(0, 300)}`, backoffMs };
      appendFileSync(join(cfg.runDir, 'restarts.jsonl'), JSON.stringify(record) + '\n');
      progress.note(`the run failed (${record.reason}); restart ${record.restart} of ${cfg.maxRestarts} from the latest checkpoint in ${backoffMs / 1000} s`);
      logger.warn(`restart ${record.restart}/${cfg.maxRestarts} after: ${outcome.error.message}`);
      // A stop asked for during the backoff ends the run here: its latest checkpoint is on disk already.
      signals.current = null;
      for (const until = Date.now() + backoffMs; Date.now() < until && signals.count === 0; ) await new Promise((r) => setTimeout(r, 100));
      if (signals.count > 0) {
        progress.note(`stopped during the restart backoff; continue with: ringtrain resume ${cfg.runDir}`);
        return true;
      }
      resume = cfg.runDir;
      const failedAt = outcome.failedAt;
      recovery = (step) => {
        const recoveredMs = Date.now() - failedAt;
        appendFileSync(join(cfg.runDir, 'restarts.jsonl'), JSON.stringify({ restart: record.restart, trainingAgainAtStep: step, recoveredMs }) + '\n');
        progress.note(`training again at step ${step}, ${(recoveredMs / 1000).toFixed(1)} s after the failure`);
      };
    }
  } finally {
    for (const s of stopSignals) process.removeListener(s, onSignal);
    process.removeListener('SIGUSR1', onCheckpointSignal);
    lock.release();
  }
}

/**
 * Errors a restart cannot cure: the same config and data would fail the same way again. Anything
 * else (a lost or hung worker, a stuck step, a killed coordinator) is worth a restart.
 */
export const DETERMINISTIC_FAILURES = new Set(['LOSS_NOT_FINITE', 'CHECKPOINT_MISMATCH', 'NO_CHECKPOINT', 'BAD_CHECKPOINT', 'BAD_CONFIG', 'UNKNOWN_CONFIG_KEY', 'CONFIG_PARSE', 'CONFIG_NOT_FOUND', 'RUN_DIR_UNUSABLE', 'CHECKPOINT_WRITE_FAILED', 'DATA_BAD_CURSOR', 'DATA_EMPTY', 'DATA_NOT_FOUND', 'DATA_HELD_OUT_OVERLAP', 'HELD_OUT_TOO_SMALL', 'BAD_MODEL', 'ULYSSES_HEADS', 'ULYSSES_KV_HEADS', 'WONT_FIT', 'CONFIG_UNREADABLE', 'WORLD_SIZE_MISMATCH', 'STALE_JOB', 'PORT_IN_USE', 'NO_RUN_DIR', 'SECRET_FILE', 'SECRET_FILE_OPEN']);

type SessionOutcome = { ok: true } | { ok: false; error: RingtrainError; failedAt: number; transient: boolean };

/** One coordinator process and its P workers, from start (or resume) to done, stopped or failed. */
class Session {
  private readonly coordinator: ChildProcess;
  private launcher: LocalLauncher | null = null;

  constructor(
    /** The run's job secret (RUN/.secret): the processes' and the dashboard's actions'. */
    private readonly secret: string,
    private readonly cfg: TrainConfig,
    resume: string | null,
    private readonly logger: Logger,
    private readonly progress: ProgressLine,
    /** After a restart: called with the first step trained again, as metrics.jsonl counts it (the time to recover is recorded). */
    private onFirstStep: ((step: number) => void) | undefined,
    /** Where the coordinator serves the live dashboard (the port of the first session, once known). */
    private readonly dashboard: { place: DashboardPlace | null; told: boolean },
  ) {
    // Its own process group: a Ctrl-C in the terminal reaches `train` only, which then asks the
    // coordinator to stop in order (its stdin closing, should `train` die, does the same).
    const place = dashboard.place;
    const dashboardArgs = place === null ? ['--no-dashboard'] : ['--dashboard-host', place.host, '--dashboard-port', String(place.port)];
    this.coordinator = spawn(process.execPath, [cliEntry(), 'coordinator', '--config-stdin', ...dashboardArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      // RINGTRAIN_RUN_DIR names the run the process belongs to (for people and tests looking at `ps`).
      env: { ...process.env, RINGTRAIN_SECRET: this.secret, RINGTRAIN_RUN_DIR: cfg.runDir },
    });
    this.coordinator.stdin!.write(JSON.stringify({ config: cfg, resume }) + '\n');
  }

  /** Asks the coordinator to stop after the current step, with a checkpoint. */
  stop(): void {
    if (this.coordinator.exitCode === null) this.coordinator.kill('SIGTERM');
  }

  /** Asks the coordinator for a checkpoint after the current step (SIGUSR1). */
  checkpointNow(): void {
    if (this.coordinator.exitCode === null) this.coordinator.kill('SIGUSR1');
  }

  kill(): void {
    if (this.coordinator.exitCode === null) this.coordinator.kill('SIGKILL');
    void this.launcher?.stop(0);
  }

  async run(): Promise<SessionOutcome> {
    const { cfg, logger, progress } = this;
    const killCoordinator = () => this.coordinator.exitCode === null && this.coordinator.kill('SIGKILL');
    process.once('exit', killCoordinator);
    const stderrTail: string[] = [];
    createInterface({ input: this.coordinator.stderr! }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
      logger.debug(line, { from: 'coordinator' });
    });
    let workerFailure: RingtrainError | null = null;
    let failedAt = 0;
    let finished = false;
    createInterface({ input: this.coordinator.stdout! }).on('line', (line) => {
      let e: TrainEvent | { event: 'listening'; url: string } | { event: 'world' } | { event: 'dashboard'; url: string };
      try {
        e = JSON.parse(line);
      } catch {
        logger.info(line, { from: 'coordinator' });
        return;
      }
      switch (e.event) {
        case 'listening':
          this.launcher = new LocalLauncher({
            worldSize: cfg.workers,
            command: workerCommand('--heartbeat-timeout-ms', String(cfg.heartbeatTimeoutMs)),
            coordinatorUrl: e.url,
            secret: this.secret,
            logger,
            threadsPerWorker: Math.max(1, Math.floor(cpus().length / cfg.workers)),
            logDir: cfg.runDir,
            env: { RINGTRAIN_BACKEND: cfg.backend },
            detached: true,
          });
          this.launcher.onUnexpectedExit((x) => {
            workerFailure ??= describeExit(x);
            failedAt ||= Date.now();
            // The coordinator notices the lost connection itself and fails the step; this is the backstop.
            setTimeout(killCoordinator, 5000).unref();
          });
          this.launcher.start();
          return;
        case 'dashboard': {
          const port = Number(new URL(e.url).port);
          if (this.dashboard.place && this.dashboard.place.port === 0) this.dashboard.place = { ...this.dashboard.place, port };
          if (!this.dashboard.told) progress.note(`dashboard: ${e.url} (its actions ask for the job secret, in ${join(cfg.runDir, '.secret')})`);
          this.dashboard.told = true;
          return;
        }
        case 'world':
          logger.info(`world of ${cfg.workers} workers formed`);
          return;
        case 'notice':
          progress.note(e.message);
          return;
        case 'resumed':
          progress.note(`resumed from ${e.from} at step ${e.step}${e.workersWere !== cfg.workers || e.strategyWas !== cfg.strategy ? ` (saved by ${e.workersWere} ${e.strategyWas} workers)` : ''}`);
          return;
        case 'checkpoint':
          logger.info(`checkpoint after step ${e.record.step}: ${e.record.dir} (held ${e.record.heldMs.toFixed(0)} ms, written in ${e.record.writeMs.toFixed(0)} ms)`);
          return;
        case 'step':
          this.onFirstStep?.(e.metrics.step);
          this.onFirstStep = undefined;
          progress.step(e.metrics, e.steps, e.etaSec);
          return;
        case 'eval':
          progress.eval(e.result);
          return;
        case 'stopped':
          finished = true;
          progress.note(e.checkpoint
            ? `stopped after step ${e.step} (${e.reason}); saved checkpoint ${e.checkpoint}; continue with: ringtrain resume ${cfg.runDir}`
            : `stopped after step ${e.step} (${e.reason}); no checkpoint was saved`);
          return;
        case 'done':
          finished = true;
          progress.done(e.summary);
          return;
      }
    });
    // 'close', not 'exit': the last lines of its output (the final `done`) are read by then.
    const code = await new Promise<number | null>((res) => this.coordinator.on('close', (c) => res(c)));
    failedAt ||= Date.now();
    process.removeListener('exit', killCoordinator);
    await this.launcher?.stop();
    if (code === 0 && finished) return { ok: true };
    if (workerFailure) return { ok: false, error: workerFailure, failedAt, transient: true };
    const userError = stderrTail.filter((l) => l.startsWith('ringtrain:') || l.startsWith('  hint:'));
    const codes = userError.map((l) => /^ringtrain: \[([A-Z_]+)\]/.exec(l)?.[1]).filter((c): c is string => c !== undefined && c !== 'TRAINING_FAILED');
    const error = new RingtrainError('TRAINING_FAILED', `the coordinator exited with ${code === null ? 'a signal' : `code ${code}`}${userError.length ? `:\n${userError.join('\n')}` : ''}`, {
      hint: userError.length ? undefined : `its log is in ${join(cfg.runDir, 'coordinator.log')}; last output:\n${stderrTail.slice(-10).join('\n')}`,
      details: { codes },
    });
    return { ok: false, error, failedAt, transient: !codes.some((c) => DETERMINISTIC_FAILURES.has(c)) };
  }
}

/**
 * A fresh job secret for this run, in RUN/.secret, readable by its owner only: the processes get
 * it through their environment, and the dashboard's actions ask for it (never on a command line
 * or in a log).
 */
export function writeJobSecret(runDir: string): string {
  const secret = randomBytes(24).toString('hex');
  const file = join(runDir, '.secret');
  writeFileSync(`${file}.tmp`, secret + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return secret;
}

/** ", after 300 steps at seq 128 × 16, …" when the run starts with shorter sequences. */
function warmupNote(cfg: TrainConfig): string {
  const warm = cfg.stages.slice(0, -1);
  const own = (s: TrainStage) => (s.data.join(',') === cfg.data.join(',') ? '' : ` of ${s.data.join(',')}`);
  return warm.length === 0 ? '' : ` after ${warm.map((s) => `${s.steps}${own(s)} at seq ${s.seqLen} × ${s.batchSize}`).join(', ')}`;
}
