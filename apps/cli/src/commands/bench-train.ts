import type { Command } from 'commander';
import { BACKENDS, TRAIN_KNOB_NAMES, assertRunFits } from '@ringtrain/config';
import { createLogger } from '@ringtrain/core';
import { formatBytes, median } from '../bench/stats';
import { runTrainBench } from '../bench/run-train';
import { parseIntOption } from '../check/config';
import { workerCommand } from '../cli-entry';
import { describeWorkers } from '../check/report';
import { started } from '../exit-codes';
import { resolveFromFlags, type TrainFlags } from './train';

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

/** `ringtrain bench train`: tokens/s and model FLOP/s of training steps against the machine's sgemm. */
export function registerBenchTrain(bench: Command): void {
  bench
    .command('train')
    .description('Training steps at a given size: tokens/s, model GFLOP/s, the machine\'s sgemm GFLOP/s measured in the same run (between the timed steps) and their ratio (a CPU MFU: the median of each step\'s ratio to the better sgemm on either side of it; also against the best sgemm of the run), and each worker\'s peak memory.')
    .option('--workers <n>', 'worker processes (P)', '2')
    .option('--strategy <name>', 'ring, striped, zigzag, ulysses or rsa', 'striped')
    .option('--seq-len <n>', 'sequence length S', '8192')
    .option('--batch-size <n>', 'sequences per step', '1')
    .option('--steps <n>', 'timed steps (the median is reported)', '3')
    .option('--warmup <n>', 'untimed steps first', '1')
    .option('--model <spec>', 'preset (tiny, passkey, small) and/or dims', 'small')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')}`, 'auto')
    .option('--seed <n>', 'seed', '1')
    .option('--json', 'print one JSON object', false)
    .action(async (f: TrainFlags & { warmup: string; json: boolean }) => {
      const cfg = resolveFromFlags({ ...f, data: 'passkey', runDir: 'runs/bench' });
      assertRunFits('bench train', cfg, 'train', TRAIN_KNOB_NAMES);
      const logger = createLogger({ name: 'bench', level: process.env.RINGTRAIN_LOG_LEVEL ?? (f.json ? 'warn' : 'info') });
      const r = await started(runTrainBench(cfg, { warmup: parseIntOption('--warmup', f.warmup, 0), logger, workerCommand: workerCommand('--backend', cfg.backend) }));
      if (f.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      process.stdout.write([
        `${cfg.model.layers} layers, d ${cfg.model.dModel}, ${cfg.model.heads} heads of ${cfg.model.headDim}; ${cfg.workers} workers (${describeWorkers(r.workers)}), ${cfg.strategy}, seq ${cfg.seqLen} × batch ${cfg.batchSize}`,
        `step ${Math.round(median(r.stepMs))} ms (median of ${r.stepMs.length}); ${Math.round(r.tokensPerSec)} tokens/s`,
        `model ${r.modelGflops.toFixed(2)} GFLOP/s; machine sgemm ${r.sgemmGflops === null ? 'n/a (native addon not built)' : `${r.sgemmGflops.toFixed(1)} GFLOP/s (median, around each step)`}`,
        `ratio ${pct(r.ratio)} (each step against the better sgemm on either side of it); ${pct(r.ratioVsBestSgemm)} against the best sgemm of the run`,
        `peak memory per worker: ${r.peakRssBytesPerWorker.map(formatBytes).join(', ')}`,
      ].join('\n') + '\n');
    });
}
