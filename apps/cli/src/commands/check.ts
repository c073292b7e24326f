import { Option, type Command } from 'commander';
import { createLogger } from '@ringtrain/core';
import { BACKENDS, assertAttentionCheckFits, assertTrainCheckFits, resolveModel } from '@ringtrain/config';
import { STRATEGY_NAMES } from '@ringtrain/worker';
import { checkRunDirPath } from '@ringtrain/coordinator';
import { checkConfigFrom, parseIntOption, parseStrategyList, type CheckOptions } from '../check/config';
import { reportJson, reportTable } from '../check/report';
import { runCheck } from '../check/run-check';
import { runTrainCheck, trainCheckTable } from '../check/run-train-check';
import { workerCommand } from '../cli-entry';
import { EXIT, started } from '../exit-codes';
import { parseBackend } from './worker';

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('Run distributed attention with P real worker processes on loopback and compare every output and gradient with the single-process reference.')
    .option('--strategies <list>', `comma list of ${STRATEGY_NAMES.join(', ')}`, STRATEGY_NAMES.join(','))
    .option('--workers <n>', 'number of worker processes (P)', '2')
    .option('--seq-len <n>', 'sequence length (need not divide by P)', '256')
    .option('--heads <n>', 'query heads', '4')
    .option('--kv-heads <n>', 'K/V heads (GQA/MQA); default: --heads')
    .option('--head-dim <n>', 'head dimension', '16')
    .addOption(new Option('--causal', 'causal mask (default)').default(true))
    .addOption(new Option('--no-causal', 'no mask'))
    .option('--seed <n>', 'seed of the random inputs', '1')
    .option('--tolerance <x>', 'largest accepted error relative to max|reference| (default 1e-4; 1e-5 with --train)')
    .option('--train', 'check one training step (loss, gradient norm, every gradient, the update and every updated parameter) instead of attention alone', false)
    .option('--model <spec>', 'with --train: model preset and/or dims', 'tiny,heads=4,kvHeads=2')
    .option('--batch-size <n>', 'with --train: sequences in the batch', '2')
    .option('--lr <x>', 'with --train: learning rate of the checked AdamW step (Adam\'s first step moves a parameter by about lr·g/(|g|+eps), so fp32 rounding in a near-zero gradient moves it by up to ~lr: keep lr below tolerance·max|param| for the comparison with the single-process parameters; the update check does not depend on it)', '1e-6')
    .option('--timeout-ms <ms>', 'how long one strategy may take', '600000')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')}`, 'auto')
    .option('--docs <n>', 'pack N documents of random lengths into each sequence: attention stays within a document (compared under the block-diagonal causal mask)')
    .option('--doc-lens <list>', 'pack documents of these lengths (comma list summing to --seq-len), e.g. 1,500,37')
    .option('--positions <mode>', 'with --train and documents: RoPE positions "global" or "per-document" (restarting at each document)', 'global')
    .option('--ulysses-degree <n>', 'hybrid: ranks per Ulysses group U, dividing --workers and the heads (the ring runs across the P/U groups); default: the largest such U below P')
    .option('--ring-layout <name>', 'hybrid: layout of the ring across groups: ring (contiguous, the default), striped or zigzag')
    .option('--json', 'print one JSON object instead of a table', false)
    .option('--dump <dir>', 'write the first strategy\'s inputs and results as .npy files and meta.json')
    .action(async (opts: CheckOptions & { backend: string }) => {
      // Sizes that cannot fit are refused first: checkConfigFrom already lays out every position.
      const int = (option: string, raw: string) => parseIntOption(option, raw, 1);
      const sizes = { seqLen: int('--seq-len', opts.seqLen), workers: int('--workers', opts.workers), backend: parseBackend(opts.backend) };
      const strategies = parseStrategyList(opts.strategies);
      const u = opts.ulyssesDegree === undefined ? 0 : parseIntOption('--ulysses-degree', opts.ulyssesDegree, 0);
      const degree = u >= 1 ? { ulyssesDegree: u } : {}; // 0 is refused by checkConfigFrom, naming the degrees that work
      if (opts.train) assertTrainCheckFits({ ...sizes, ...degree, strategy: strategies[0], model: resolveModel(opts.model), stages: [{ seqLen: sizes.seqLen, batchSize: int('--batch-size', opts.batchSize) }] }, strategies);
      else assertAttentionCheckFits({ ...sizes, ...degree, strategies, heads: int('--heads', opts.heads), kvHeads: int('--kv-heads', opts.kvHeads ?? opts.heads), headDim: int('--head-dim', opts.headDim) });
      const cfg = checkConfigFrom(opts);
      if (cfg.dumpDir !== null) checkRunDirPath(cfg.dumpDir, { what: 'dump directory', option: '--dump', code: 'BAD_OPTION' }); // Node's mkdir -p never returns under /proc
      const worker = workerCommand('--backend', parseBackend(opts.backend));
      const logger = createLogger({ name: 'check', level: process.env.RINGTRAIN_LOG_LEVEL ?? (cfg.json ? 'warn' : 'info') });
      if (cfg.train) {
        const r = await started(runTrainCheck({ strategies: cfg.strategies, hybrid: cfg.hybrid, workers: cfg.workers, seqLen: cfg.problem.seqLen, ...cfg.train, seed: cfg.seed, tolerance: cfg.tolerance, timeoutMs: cfg.timeoutMs, documents: cfg.documents, perDocumentPositions: cfg.perDocumentPositions }, logger, worker));
        process.stdout.write((cfg.json ? JSON.stringify(r) : trainCheckTable(r, cfg.tolerance)) + '\n');
        process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
        return;
      }
      const report = await started(runCheck(cfg, logger, worker));
      process.stdout.write((cfg.json ? reportJson(report) : reportTable(report)) + '\n');
      process.exitCode = report.ok ? EXIT.ok : EXIT.failed;
    });
}


