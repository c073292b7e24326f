import { Option, type Command } from 'commander';
import { createLogger, optionError } from '@ringtrain/core';
import { STRATEGY_NAMES } from '@ringtrain/worker';

/** What `bench attention` runs by default: hybrid only when asked (its degree is a choice of its own). */
const BENCHED_STRATEGIES = STRATEGY_NAMES.filter((name) => name !== 'hybrid');
import { attentionConfigFrom, KERNEL_CHOICES, type AttentionOptions } from '../bench/attention-config';
import { attentionJson, attentionTable } from '../bench/attention-report';
import { BENCH_KERNELS, kernelsConfigFrom, parseSeqLens, type KernelsOptions } from '../bench/kernels-config';
import { kernelsJson, kernelsTable } from '../bench/kernels-report';
import { runAttentionBench } from '../bench/run-attention';
import { blocksTable, runBlocksBench } from '../bench/run-blocks';
import { runKernelsBench } from '../bench/run-kernels';
import { LINK_PRESETS } from '../bench/sim-model';
import { workerCommand } from '../cli-entry';
import { registerBenchTrain } from './bench-train';
import { runStateBench } from '../bench/run-state';
import { gpuBenchTable, runGpuBench } from '../bench/run-gpu';
import { parseIntOption } from '../check/config';
import { EXIT, started } from '../exit-codes';

/** `ringtrain bench kernels|attention` (and `train`, bench-train.ts): speed against the machine's limit and against plain ring attention. */
export function registerBenchCommand(program: Command): void {
  const bench = program
    .command('bench')
    .description('Benchmarks: attention kernels against the machine\'s sgemm, strategies across real worker processes, and a projection to large clusters.');

  bench
    .command('kernels')
    .description('In one process: sgemm GFLOP/s (the limit), then attention forward + backward GFLOP/s of each kernel at each size, as a share of sgemm.')
    .option('--seq-lens <list>', 'comma list of sequence lengths (K suffix allowed)', '1024,2048,4096,8192')
    .option('--head-dim <n>', 'head dimension', '64')
    .option('--heads <n>', 'heads', '1')
    .addOption(new Option('--causal', 'causal mask; FLOPs counted as half (default)').default(true))
    .addOption(new Option('--no-causal', 'no mask'))
    .option('--kernels <list>', `comma list of ${BENCH_KERNELS.join(', ')}`, BENCH_KERNELS.join(','))
    .option('--reps <n>', 'timed runs per kernel and size (the median is reported)', '3')
    .option('--warmup <n>', 'untimed runs first', '1')
    .option('--sgemm-size <n>', 'M = N = K of the sgemm that sets the limit', '2048')
    .option('--threads <n>', 'threads of the native sgemm and kernel; 0 = OpenBLAS\'s count (OPENBLAS_NUM_THREADS)', '0')
    .option('--max-seconds <s>', 'skip a kernel at a size estimated to take longer than this (warmup + reps)', '60')
    .option('--reference-max-seq <n>', 'largest size the plain (slow) reference runs at', '2048')
    .option('--seed <n>', 'seed of the random inputs', '1')
    .option('--blocks', 'instead: the native kernel on the masked blocks of a P = 2 ring / striped / zigzag step at each size, as a share of a full block (rounds interleaved)', false)
    .option('--json', 'print one JSON object instead of a table', false)
    .action(async (opts: KernelsOptions) => {
      const cfg = kernelsConfigFrom(opts);
      const logger = createLogger({ name: 'bench', level: process.env.RINGTRAIN_LOG_LEVEL ?? (cfg.json ? 'warn' : 'info') });
      if (cfg.blocks) {
        const blocks = await runBlocksBench(cfg, logger);
        process.stdout.write((cfg.json ? JSON.stringify(blocks, null, 2) : blocksTable(blocks)) + '\n');
        return;
      }
      const report = await runKernelsBench(cfg, logger);
      process.stdout.write((cfg.json ? kernelsJson(report) : kernelsTable(report)) + '\n');
    });

  bench
    .command('attention')
    .description('Every strategy forward + backward across P real worker processes: wall time, compute and network wait per rank, efficiency against one worker, speedup over ring, the step model\'s prediction, and the transport against raw TCP (read into a 64 KiB buffer, and into message-sized buffers).')
    .option('--workers <n>', 'worker processes (P); each gets cores/P BLAS threads', '2')
    .option('--seq-len <n>', 'sequence length', '4096')
    .option('--heads <n>', 'query heads', '1')
    .option('--kv-heads <n>', 'K/V heads (GQA/MQA); default: --heads')
    .option('--head-dim <n>', 'head dimension', '64')
    .addOption(new Option('--causal', 'causal mask (default)').default(true))
    .addOption(new Option('--no-causal', 'no mask'))
    .option('--strategies <list>', `comma list of ${STRATEGY_NAMES.join(', ')}; those that cannot run the problem are skipped and named`, BENCHED_STRATEGIES.join(','))
    .option('--ulysses-degree <n>', 'hybrid: ranks per Ulysses group (dividing --workers and --heads; default: the largest below --workers)')
    .option('--ring-layout <name>', 'hybrid: layout of its ring across groups: ring (contiguous, the default), striped or zigzag')
    .option('--reps <n>', 'timed repetitions (the median is reported)', '3')
    .option('--warmup <n>', 'untimed repetitions first', '1')
    .addOption(new Option('--kernel <name>', 'attention kernel: native when the addon loads (auto), else tfjs').choices([...KERNEL_CHOICES]).default('auto'))
    .option('--seed <n>', 'seed of the random inputs', '1')
    .option('--transport-mib <n>', 'MiB streamed per transport measurement (0 skips it)', '256')
    .option('--chunk-mib <n>', 'MiB per write / data frame in the transport measurement', '4')
    .option('--docs <n>', 'also run every strategy on N packed documents of random lengths (document masking), side by side with the unmasked run')
    .option('--rsa-max-seq <n>', 'longest sequence rsa runs at (it holds S²/P scores per rank, built by synchronous tfjs ops)', '16384')
    .option('--timeout-ms <ms>', 'how long one job may take', '600000')
    .option('--json', 'print one JSON object instead of a table', false)
    .option('--simulate', 'also project every strategy to large P and S from this run\'s kernel speed and a link model', false)
    .option('--link <preset>', `with --simulate: one link preset (${Object.keys(LINK_PRESETS).join(', ')}); default both`)
    .option('--bandwidth-gbps <n>', 'with --simulate: a custom link, gigabits/s per rank (100 = 12.5 GB/s)')
    .option('--latency-us <n>', 'with --simulate and --bandwidth-gbps: latency per message, µs')
    .option('--gflops <n>', 'with --simulate: per-rank kernel GFLOP/s to assume instead of measuring (no workers start)')
    .option('--sim-workers <list>', 'with --simulate: world sizes to project', '8,16,64,512')
    .option('--sim-seq-lens <list>', 'with --simulate: sequence lengths to project (K, M suffixes)', '32K,128K,1M')
    .action(async (opts: AttentionOptions) => {
      const cfg = attentionConfigFrom(opts);
      const logger = createLogger({ name: 'bench', level: process.env.RINGTRAIN_LOG_LEVEL ?? (cfg.json ? 'warn' : 'info') });
      const report = await started(runAttentionBench(cfg, logger, workerCommand()));
      process.stdout.write((cfg.json ? attentionJson(report) : attentionTable(report)) + '\n');
      if (report.skipped.some((s) => s.reason.startsWith('failed:'))) process.exitCode = EXIT.failed;
    });

  registerBenchTrain(bench);

  bench
    .command('gpu')
    .description('On the WebGPU backend in one process: a matmul\'s GFLOP/s, then the WGSL flash attention forward + backward GFLOP/s at each size, against that matmul and the GPU\'s fp32 peak.')
    .option('--seq-lens <list>', 'comma list of sequence lengths (K suffix allowed)', '1024,4096')
    .option('--heads <n>', 'query heads', '8')
    .option('--kv-heads <n>', 'K/V heads (GQA); default: --heads')
    .option('--head-dim <n>', 'head dimension', '64')
    .addOption(new Option('--causal', 'causal mask; FLOPs counted as half (default)').default(true))
    .addOption(new Option('--no-causal', 'no mask'))
    .option('--matmul-size <n>', 'M = N = K of the matmul', '2048')
    .option('--reps <n>', 'timed runs (the median is reported)', '3')
    .option('--peak-tflops <n>', 'the GPU\'s fp32 peak, TFLOP/s (H100/H200 SXM: 67)')
    .option('--json', 'print one JSON object', false)
    .action(async (o: { seqLens: string; heads: string; kvHeads?: string; headDim: string; causal: boolean; matmulSize: string; reps: string; peakTflops?: string; json: boolean }) => {
      const logger = createLogger({ name: 'bench', level: process.env.RINGTRAIN_LOG_LEVEL ?? (o.json ? 'warn' : 'info') });
      const heads = parseIntOption('--heads', o.heads, 1);
      const kvHeads = o.kvHeads ? parseIntOption('--kv-heads', o.kvHeads, 1) : heads;
      if (heads % kvHeads !== 0) throw optionError('--kv-heads', kvHeads, `a divisor of --heads ${heads}`);
      const peak = o.peakTflops === undefined ? null : Number(o.peakTflops);
      if (peak !== null && !(peak > 0)) throw optionError('--peak-tflops', o.peakTflops, 'a positive number of TFLOP/s');
      const r = await runGpuBench({
        seqLens: parseSeqLens(o.seqLens),
        heads,
        kvHeads,
        headDim: parseIntOption('--head-dim', o.headDim, 1),
        causal: o.causal,
        matmulSize: parseIntOption('--matmul-size', o.matmulSize, 1),
        reps: parseIntOption('--reps', o.reps, 1),
        peakTflops: peak,
      }, logger);
      process.stdout.write((o.json ? JSON.stringify(r) : gpuBenchTable(r)) + '\n');
    });

  bench
    .command('state')
    .description('Stream a model\'s parameters from the workers to the coordinator and back, in chunks within the frame limit: rate, and the receiver\'s memory against the state\'s size.')
    .option('--workers <n>', 'worker processes', '1')
    .option('--mib <n>', 'parameter MiB (a d-1024 model with enough layers)', '600')
    .option('--max-frame-mib <n>', 'largest frame on both ends, MiB (chunks fit inside it)', '16')
    .option('--json', 'print one JSON object', false)
    .action(async (o: { workers: string; mib: string; maxFrameMib: string; json: boolean }) => {
      const logger = createLogger({ name: 'bench', level: process.env.RINGTRAIN_LOG_LEVEL ?? (o.json ? 'warn' : 'info') });
      const maxFrameBytes = parseIntOption('--max-frame-mib', o.maxFrameMib, 1) * 2 ** 20;
      const r = await started(runStateBench({
        workers: parseIntOption('--workers', o.workers, 1),
        targetBytes: parseIntOption('--mib', o.mib, 1) * 2 ** 20,
        maxFrameBytes,
        logger,
        workerCommand: workerCommand('--max-frame-bytes', String(maxFrameBytes)),
      }));
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
      process.stdout.write([
        `${mib(r.stateBytes)} in ${r.tensors} tensors, frames ≤ ${mib(r.maxFrameBytes)}; ${r.hashOk ? 'hash ok' : 'HASH MISMATCH'}`,
        `get-state ${r.getStateSec.toFixed(2)} s (${(r.getStateBytesPerSec / 1e9).toFixed(2)} GB/s); set-state ${r.setStateSec.toFixed(2)} s`,
        `receiver memory: ${mib(r.receiverRssBeforeBytes)} before, peak ${mib(r.receiverPeakRssBytes)} (+${mib(r.receiverPeakRssBytes - r.receiverRssBeforeBytes)} for ${mib(r.stateBytes)} of state)`,
      ].join('\n') + '\n');
      if (!r.hashOk) process.exitCode = EXIT.failed;
    });
}
