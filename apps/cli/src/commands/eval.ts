import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, createLogger, decodeSafetensors } from '@ringtrain/core';
import { BACKENDS, strategyLayout, assertRunFits, loadResolvedConfig, resolveTrainConfig, stageDocMask } from '@ringtrain/config';
import { checkEvalSamples, evaluate, filesEvalSource, heldOutEvalSource, withLocalWorld, type EvalResult, type EvalSource } from '@ringtrain/coordinator';
import { isBuiltinSource } from '@ringtrain/data';
import type { Bulk } from '@ringtrain/protocol';
import { parseIntOption } from '../check/config';
import { workerCommand } from '../cli-entry';
import { started } from '../exit-codes';
import { parseBackend } from './worker';

/** Samples scored by default where the data is a synthetic task with no end (passkey, copy). */
const TASK_SAMPLES = 32;

interface EvalFlags {
  runDir: string;
  data?: string;
  seqLen?: string;
  samples?: string;
  workers?: string;
  strategy?: string;
  batchSize?: string;
  backend?: string;
  json: boolean;
}

/**
 * `ringtrain eval`: scores a trained run's model.safetensors, at any sequence length, on the
 * run's held-out data or on files the user names: the loss (mean over every scored token), bits
 * per byte, tokens and sequences scored, and passkey accuracy for passkey data.
 */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('Score a trained run (its model.safetensors) on its held-out data, or on the files given with --data: loss per token, bits per byte, passkey accuracy for passkey data.')
    .requiredOption('--run-dir <dir>', 'the run directory written by `ringtrain train`')
    .option('--data <files>', 'comma list of text/JSONL/.bin files or folders to score, packed in order without shuffling, every sequence (default: the run\'s held-out data)')
    .option('--seq-len <n>', 'sequence length to evaluate at (default: the run\'s)')
    .option('--samples <n>', `sequences to score, the first ones (default: all of the file data; ${TASK_SAMPLES} for passkey/copy)`)
    .option('--workers <n>', 'worker processes (default: the run\'s)')
    .option('--strategy <name>', 'attention strategy (default: the run\'s)')
    .option('--batch-size <n>', 'sequences per evaluation step (default: the run\'s)')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')} (default: the run's)`)
    .option('--json', 'print one JSON object', false)
    .action(async (o: EvalFlags) => {
      const configFile = join(o.runDir, 'config.json');
      const modelFile = join(o.runDir, 'model.safetensors');
      for (const f of [configFile, modelFile]) {
        if (!existsSync(f)) throw new RingtrainError('RUN_INCOMPLETE', `${f} does not exist`, { hint: 'pass --run-dir of a run that `ringtrain train` finished' });
      }
      const saved = loadResolvedConfig(configFile);
      const cfg = resolveTrainConfig({}, {
        ...saved,
        model: { ...saved.model } as unknown as Record<string, unknown>,
        optim: undefined,
        lr: saved.optim.lr,
        data: [...saved.data],
        valData: saved.valData ? [...saved.valData] : null,
        seqLenWarmup: undefined,
        seqLen: o.seqLen ? parseIntOption('--seq-len', o.seqLen, 1) : saved.seqLen,
        workers: o.workers ? parseIntOption('--workers', o.workers, 1) : saved.workers,
        strategy: o.strategy ?? saved.strategy,
        // hybrid's own keys go with it when --strategy names another
        ...((o.strategy ?? saved.strategy) === 'hybrid' ? {} : { ulyssesDegree: undefined, ringLayout: undefined }),
        backend: o.backend ? parseBackend(o.backend) : saved.backend,
        batchSize: o.batchSize ? parseIntOption('--batch-size', o.batchSize, 1) : saved.batchSize,
      }, o.runDir);
      assertRunFits('eval', cfg, 'eval', { seqLen: () => '--seq-len', batchSize: () => '--batch-size', workers: '--workers', layers: null });
      const logger = createLogger({ name: 'eval', level: o.json ? 'warn' : 'info' });
      const paths = o.data === undefined ? undefined : dataPaths(o.data);
      const source = evalSourceOf(cfg, paths, logger);
      // The model reads documents as it did in training: the run's docMask, resolved for the data scored.
      const documents = { docMask: stageDocMask(cfg, { data: paths ?? cfg.data }), positions: cfg.positions };
      const samples = o.samples !== undefined ? parseIntOption('--samples', o.samples, 1) : Number.isFinite(source.sequences) ? source.sequences : TASK_SAMPLES;
      checkEvalSamples(source, samples, '--samples'); // before any worker starts
      const { tensors } = decodeSafetensors(readFileSync(modelFile), modelFile);
      const weights: Bulk = new Map();
      for (const [name, t] of tensors) weights.set(name, { dtype: 'float32', shape: t.shape, data: t.data });
      const result = await started(withLocalWorld(
        { workers: cfg.workers, logger, workerCommand: workerCommand('--backend', cfg.backend), jobTimeoutMs: 1_800_000 },
        async ({ replicas }) => {
          await replicas.init(cfg);
          await replicas.setState(weights);
          const layout = strategyLayout(cfg, cfg.seqLen, cfg.workers);
          return evaluate(replicas, layout, source, { step: saved.totalSteps, samples, batchSize: cfg.batchSize, prevLags: cfg.model.prevTokenEmbed, samplesOption: '--samples', documents });
        },
      ));
      process.stdout.write(o.json ? JSON.stringify({ seqLen: cfg.seqLen, ...result }) + '\n' : table(cfg.seqLen, result));
    });
}

/** `--data` given: those files in order (or `passkey`/`copy`: that task's held-out samples); else the run's held-out data. */
function dataPaths(data: string): string[] {
  const paths = data.split(',').map((s) => s.trim()).filter(Boolean);
  if (paths.length === 0) throw new RingtrainError('BAD_OPTION', `--data ${JSON.stringify(data)} names no file`, { hint: 'pass --data with a comma list of text, .jsonl or .bin files or folders' });
  return paths;
}

function evalSourceOf(cfg: Parameters<typeof heldOutEvalSource>[0], paths: string[] | undefined, logger: ReturnType<typeof createLogger>): EvalSource {
  if (paths !== undefined) {
    if (isBuiltinSource(paths, 'passkey') || isBuiltinSource(paths, 'copy')) {
      return heldOutEvalSource({ ...cfg, data: paths, valData: null, stages: cfg.stages.map((s) => ({ ...s, data: paths })) }, logger)!;
    }
    return filesEvalSource(paths, cfg.seqLen, logger);
  }
  const heldOut = heldOutEvalSource(cfg, logger);
  if (!heldOut) {
    throw new RingtrainError('NO_HELD_OUT', `the run's data ${cfg.data.join(',')} holds a single document, all of it trained on: there is no held-out data to score`, {
      hint: 'name the files to score with --data FILES',
    });
  }
  return heldOut;
}

function table(seqLen: number, r: EvalResult): string {
  const rows: Array<[string, string]> = [
    ['data', r.data],
    ['seq-len', String(seqLen)],
    ['loss (mean per token)', r.loss.toFixed(4)],
    ['bits per byte', r.bitsPerByte === null ? '-' : r.bitsPerByte.toFixed(4)],
    ['tokens scored', String(r.tokens)],
    ['sequences', String(r.sequences)],
  ];
  if (r.passkeyAccuracy !== undefined) rows.push(['passkey accuracy', `${(100 * r.passkeyAccuracy).toFixed(1)}% (digits ${(100 * (r.digitAccuracy ?? 0)).toFixed(1)}%)`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}
