import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { RingtrainError, createLogger } from '@ringtrain/core';
import { loadConfigFile, resolveTrainConfig, stagePasskeyOptions, type TrainConfig, type TrainInput, type TrainStage } from '@ringtrain/config';
import { LocalLauncher, describeExit, type TrainEvent } from '@ringtrain/coordinator';
import { openDataset } from '@ringtrain/data';
import { parseIntOption } from '../check/config';
import { ProgressLine } from '../train/progress';
import { cliEntry, workerCommand } from '../cli-entry';

export interface TrainFlags {
  config?: string;
  workers?: string;
  strategy?: string;
  seqLen?: string;
  batchSize?: string;
  steps?: string;
  model?: string;
  data?: string;
  runDir?: string;
  seed?: string;
  backend?: string;
  lr?: string;
  evalEvery?: string;
  evalSamples?: string;
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('Train the reference model with P worker processes: starts the coordinator and the workers, shows progress, evaluates on held-out data.')
    .option('--config <file>', 'JSON or YAML run config; flags override it')
    .option('--workers <n>', 'worker processes (P)')
    .option('--strategy <name>', 'ring, striped, zigzag, ulysses or rsa')
    .option('--seq-len <n>', 'sequence length S')
    .option('--batch-size <n>', 'sequences per step')
    .option('--steps <n>', 'optimizer steps')
    .option('--model <spec>', 'preset (tiny, passkey, small) and/or dims, e.g. small or dModel=128,layers=2,heads=4,headDim=32 (also mlpRatio, ropeBase, initStd, prevTokenEmbed=0..4)')
    .option('--data <spec>', 'passkey, copy, or comma list of text/JSONL/.bin files or folders')
    .option('--run-dir <dir>', 'where config.json, metrics.jsonl and logs go (default runs/<timestamp>)')
    .option('--seed <n>', 'seed of the initial weights and of the data order')
    .option('--backend <name>', 'auto, native, cpu, tensorflow or gpu')
    .option('--lr <x>', 'peak learning rate')
    .option('--eval-every <n>', 'held-out evaluation every N steps (0 = at the end only)')
    .option('--eval-samples <n>', 'held-out samples per evaluation')
    .action(async (flags: TrainFlags) => {
      const cfg = resolveFromFlags(flags);
      // Open each stage's data once here so a missing or malformed file fails before any process starts.
      for (const stage of cfg.stages) {
        openDataset([...stage.data], { seqLen: stage.seqLen, seed: cfg.seed, passkey: stagePasskeyOptions(cfg, stage) });
      }
      const summary = await launchTraining(cfg);
      process.exitCode = summary ? 0 : 1;
    });
}

export function resolveFromFlags(f: TrainFlags): TrainConfig {
  const file = f.config ? loadConfigFile(f.config) : {};
  const n = (name: string, v: string | undefined) => (v === undefined ? undefined : parseIntOption(name, v, 0));
  const flags: TrainInput = {
    workers: n('--workers', f.workers),
    strategy: f.strategy,
    seqLen: n('--seq-len', f.seqLen),
    batchSize: n('--batch-size', f.batchSize),
    steps: n('--steps', f.steps),
    model: f.model,
    data: f.data,
    runDir: f.runDir,
    seed: n('--seed', f.seed),
    backend: f.backend,
    lr: f.lr === undefined ? undefined : Number(f.lr),
    evalEvery: n('--eval-every', f.evalEvery),
    evalSamples: n('--eval-samples', f.evalSamples),
  };
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const cfg = resolveTrainConfig(file, flags, join('runs', `run-${stamp}`));
  return { ...cfg, runDir: resolve(cfg.runDir) };
}

/** Starts the coordinator process, then the workers, renders progress; leaves no process behind. */
export async function launchTraining(cfg: TrainConfig): Promise<boolean> {
  mkdirSync(cfg.runDir, { recursive: true });
  const configFile = join(cfg.runDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(cfg, null, 2) + '\n');
  const logger = createLogger({ name: 'train', file: join(cfg.runDir, 'train.log') });
  const secret = randomBytes(24).toString('hex');
  const progress = new ProgressLine(process.stdout);
  const entry = cliEntry();
  process.stdout.write(`training ${cfg.model.layers}-layer d=${cfg.model.dModel} model, ${cfg.workers} workers, ${cfg.strategy} attention, seq ${cfg.seqLen} × batch ${cfg.batchSize}, ${cfg.steps} steps${warmupNote(cfg)}, data ${cfg.data.join(',')}\n`);

  const coordinator = spawn(process.execPath, [entry, 'coordinator', '--resolved-config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RINGTRAIN_SECRET: secret },
  });
  const killCoordinator = () => coordinator.exitCode === null && coordinator.kill('SIGKILL');
  process.once('exit', killCoordinator);
  const stderrTail: string[] = [];
  createInterface({ input: coordinator.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
    logger.debug(line, { from: 'coordinator' });
  });
  let launcher: LocalLauncher | null = null;
  let workerFailure: RingtrainError | null = null;
  let finished = false;
  createInterface({ input: coordinator.stdout! }).on('line', (line) => {
    let e: TrainEvent | { event: 'listening'; url: string } | { event: 'world' };
    try {
      e = JSON.parse(line);
    } catch {
      logger.info(line, { from: 'coordinator' });
      return;
    }
    switch (e.event) {
      case 'listening':
        launcher = new LocalLauncher({
          worldSize: cfg.workers,
          command: workerCommand(),
          coordinatorUrl: e.url,
          secret,
          logger,
          threadsPerWorker: Math.max(1, Math.floor(cpus().length / cfg.workers)),
          logDir: cfg.runDir,
          env: { RINGTRAIN_BACKEND: cfg.backend },
        });
        launcher.onUnexpectedExit((x) => {
          workerFailure = describeExit(x);
          killCoordinator();
        });
        launcher.start();
        return;
      case 'world':
        logger.info(`world of ${cfg.workers} workers formed`);
        return;
      case 'step':
        progress.step(e.metrics, e.steps, e.etaSec);
        return;
      case 'eval':
        progress.eval(e.result);
        return;
      case 'done':
        finished = true;
        progress.done(e.summary);
        return;
    }
  });
  const code = await new Promise<number | null>((res) => coordinator.on('exit', (c) => res(c)));
  process.removeListener('exit', killCoordinator);
  await (launcher as LocalLauncher | null)?.stop();
  if (workerFailure) throw workerFailure;
  if (code !== 0 || !finished) {
    const userError = stderrTail.filter((l) => l.startsWith('ringtrain:') || l.startsWith('  hint:'));
    throw new RingtrainError('TRAINING_FAILED', `the coordinator exited with code ${code}${userError.length ? `:\n${userError.join('\n')}` : ''}`, {
      hint: userError.length ? undefined : `its log is in ${join(cfg.runDir, 'coordinator.log')}; last output:\n${stderrTail.slice(-10).join('\n')}`,
    });
  }
  return true;
}

/** ", after 300 steps at seq 128 × 16, …" when the run starts with shorter sequences. */
function warmupNote(cfg: TrainConfig): string {
  const warm = cfg.stages.slice(0, -1);
  const own = (s: TrainStage) => (s.data.join(',') === cfg.data.join(',') ? '' : ` of ${s.data.join(',')}`);
  return warm.length === 0 ? '' : ` after ${warm.map((s) => `${s.steps}${own(s)} at seq ${s.seqLen} × ${s.batchSize}`).join(', ')}`;
}
