import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, createLogger, decodeSafetensors } from '@ringtrain/core';
import { BACKENDS, STRATEGY_LAYOUTS, loadResolvedConfig, resolveTrainConfig } from '@ringtrain/config';
import { evaluate, withLocalWorld } from '@ringtrain/coordinator';
import { makeLayout } from '@ringtrain/layout';
import type { Bulk } from '@ringtrain/protocol';
import { parseIntOption } from '../check/config';
import { workerCommand } from '../cli-entry';
import { parseBackend } from './worker';

/** `ringtrain eval`: loss and passkey accuracy of a trained run, at any sequence length. */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('Evaluate a trained run (its model.safetensors) on held-out data: loss, and passkey accuracy for passkey runs.')
    .requiredOption('--run-dir <dir>', 'the run directory written by `ringtrain train`')
    .option('--seq-len <n>', 'sequence length to evaluate at (default: the run\'s)')
    .option('--samples <n>', 'held-out samples', '32')
    .option('--workers <n>', 'worker processes (default: the run\'s)')
    .option('--strategy <name>', 'attention strategy (default: the run\'s)')
    .option('--batch-size <n>', 'samples per evaluation step (default: the run\'s)')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')} (default: the run's)`)
    .option('--json', 'print one JSON object', false)
    .action(async (o: { runDir: string; seqLen?: string; samples: string; workers?: string; strategy?: string; batchSize?: string; backend?: string; json: boolean }) => {
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
        seqLen: o.seqLen ? parseIntOption('--seq-len', o.seqLen, 1) : saved.seqLen,
        workers: o.workers ? parseIntOption('--workers', o.workers, 1) : saved.workers,
        strategy: o.strategy ?? saved.strategy,
        backend: o.backend ? parseBackend(o.backend) : saved.backend,
        batchSize: o.batchSize ? parseIntOption('--batch-size', o.batchSize, 1) : saved.batchSize,
        evalSamples: parseIntOption('--samples', o.samples, 1),
      }, o.runDir);
      const { tensors } = decodeSafetensors(readFileSync(modelFile), modelFile);
      const weights: Bulk = new Map();
      for (const [name, t] of tensors) weights.set(name, { dtype: 'float32', shape: t.shape, data: t.data });
      const logger = createLogger({ name: 'eval', level: o.json ? 'warn' : 'info' });
      const result = await withLocalWorld(
        { workers: cfg.workers, logger, workerCommand: workerCommand('--backend', cfg.backend), jobTimeoutMs: 1_800_000 },
        async ({ replicas }) => {
          await replicas.init(cfg);
          await replicas.setState(weights);
          return evaluate(cfg, replicas, makeLayout(STRATEGY_LAYOUTS[cfg.strategy], cfg.seqLen, cfg.workers), saved.steps);
        },
      );
      if (o.json) {
        process.stdout.write(JSON.stringify({ seqLen: cfg.seqLen, ...result }) + '\n');
      } else {
        const acc = result.passkeyAccuracy === undefined ? '' : `, passkey accuracy ${(100 * result.passkeyAccuracy).toFixed(1)}% (digits ${(100 * (result.digitAccuracy ?? 0)).toFixed(1)}%)`;
        process.stdout.write(`seq-len ${cfg.seqLen}: loss ${result.loss.toFixed(4)} on ${result.samples} held-out samples${acc}\n`);
      }
    });
}
