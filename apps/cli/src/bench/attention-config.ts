import { RingtrainError, optionError } from '@ringtrain/core';
import { makeProblem, type AttentionProblem, type StrategyName } from '@ringtrain/worker';
import { didYouMean as nearest } from '@ringtrain/config';
import { checkSeqCoversWorkers, hybridConfigFrom, parseIntOption, parseStrategyList, type HybridConfig } from '../check/config';
import { LINK_PRESETS, type Link } from './sim-model';
import { parseDocuments } from '../check/documents';
import { parseTokens } from './stats';

export const KERNEL_CHOICES = ['auto', 'native', 'tfjs'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** `ringtrain bench attention` options as commander hands them over. */
export interface AttentionOptions {
  workers: string;
  seqLen: string;
  heads: string;
  kvHeads?: string;
  headDim: string;
  causal: boolean;
  strategies: string;
  reps: string;
  warmup: string;
  kernel: string;
  seed: string;
  transportMib: string;
  chunkMib: string;
  rsaMaxSeq: string;
  timeoutMs: string;
  json: boolean;
  simulate: boolean;
  link?: string;
  bandwidthGbps?: string;
  latencyUs?: string;
  gflops?: string;
  simWorkers: string;
  simSeqLens: string;
  docs?: string;
  ulyssesDegree?: string;
  ringLayout?: string;
}

export interface SimulateConfig {
  readonly links: readonly Link[];
  /** Per-rank kernel FLOP/s given by --gflops; null: fit from this run's single-process job. */
  readonly flopsPerSec: number | null;
  readonly workers: readonly number[];
  readonly seqLens: readonly number[];
}

export interface AttentionBenchConfig {
  readonly workers: number;
  readonly problem: AttentionProblem;
  readonly strategies: readonly StrategyName[];
  /** hybrid's Ulysses degree and ring layout (ignored without hybrid in strategies). */
  readonly hybrid: HybridConfig;
  readonly reps: number;
  readonly warmup: number;
  readonly kernel: KernelChoice;
  readonly seed: number;
  /** Volume of each transport measurement; 0 skips it. */
  readonly transportBytes: number;
  readonly chunkBytes: number;
  /** rsa runs only up to this sequence length (its tfjs-op softmax is slow; see run-attention). */
  readonly rsaMaxSeq: number;
  readonly timeoutMs: number;
  readonly json: boolean;
  /** null without --simulate. */
  readonly simulate: SimulateConfig | null;
  /** True when nothing is measured: --simulate with --gflops. */
  readonly simulateOnly: boolean;
  /** `--docs N`: also run every strategy on N packed documents (random lengths), side by side. */
  readonly docs: number | null;
}

const MiB = 1024 * 1024;

export function attentionConfigFrom(opts: AttentionOptions): AttentionBenchConfig {
  const workers = parseIntOption('--workers', opts.workers, 1);
  const seqLen = parseIntOption('--seq-len', opts.seqLen, 1);
  const heads = parseIntOption('--heads', opts.heads, 1);
  const kvHeads = opts.kvHeads === undefined ? heads : parseIntOption('--kv-heads', opts.kvHeads, 1);
  const headDim = parseIntOption('--head-dim', opts.headDim, 1);
  checkSeqCoversWorkers(seqLen, workers);
  const names = parseStrategyList(opts.strategies);
  if (!(KERNEL_CHOICES as readonly string[]).includes(opts.kernel)) {
    throw new RingtrainError('BAD_OPTION', `--kernel "${opts.kernel}" is not a kernel`, {
      hint: `use one of ${KERNEL_CHOICES.join(', ')}${nearest(opts.kernel, KERNEL_CHOICES)}`,
      details: { option: '--kernel', value: opts.kernel },
    });
  }
  const transportMib = Number(opts.transportMib);
  if (!Number.isFinite(transportMib) || transportMib < 0) throw optionError('--transport-mib', opts.transportMib, 'a number of MiB, 0 to skip');
  const chunkMib = Number(opts.chunkMib);
  if (!Number.isFinite(chunkMib) || chunkMib <= 0 || chunkMib > 255) throw optionError('--chunk-mib', opts.chunkMib, 'a number of MiB above 0 and below the 256 MiB frame limit');
  const chunkBytes = Math.max(4, Math.round((chunkMib * MiB) / 4) * 4);
  const transportBytes = transportMib === 0 ? 0 : Math.max(1, Math.round((transportMib * MiB) / chunkBytes)) * chunkBytes;
  const simulate = opts.simulate ? simulateConfigFrom(opts) : null;
  for (const flag of ['link', 'bandwidthGbps', 'latencyUs', 'gflops'] as const) {
    if (!opts.simulate && opts[flag] !== undefined) {
      const option = `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw new RingtrainError('BAD_OPTION', `${option} only applies to --simulate`, { hint: `add --simulate, or drop ${option}`, details: { option } });
    }
  }
  return Object.freeze({
    workers,
    problem: makeProblem({ seqLen, heads, kvHeads, headDim, causal: opts.causal }),
    strategies: Object.freeze(names),
    hybrid: hybridConfigFrom(opts, names, heads, workers, null),
    reps: parseIntOption('--reps', opts.reps, 1),
    warmup: parseIntOption('--warmup', opts.warmup, 0),
    kernel: opts.kernel as KernelChoice,
    seed: parseIntOption('--seed', opts.seed, 0),
    transportBytes,
    chunkBytes,
    rsaMaxSeq: parseIntOption('--rsa-max-seq', opts.rsaMaxSeq, 1),
    timeoutMs: parseIntOption('--timeout-ms', opts.timeoutMs, 1),
    json: opts.json,
    simulate,
    simulateOnly: simulate !== null && simulate.flopsPerSec !== null,
    docs: opts.docs === undefined ? null : parseDocuments(opts.docs, undefined, seqLen)!.count,
  });
}

function simulateConfigFrom(opts: AttentionOptions): SimulateConfig {
  let links: Link[];
  if (opts.bandwidthGbps !== undefined) {
    const gbps = Number(opts.bandwidthGbps);
    if (!Number.isFinite(gbps) || gbps <= 0) throw optionError('--bandwidth-gbps', opts.bandwidthGbps, 'a positive number of gigabits per second (100 = 12.5 GB/s)');
    const us = opts.latencyUs === undefined ? 0 : Number(opts.latencyUs);
    if (!Number.isFinite(us) || us < 0) throw optionError('--latency-us', opts.latencyUs, 'a number of microseconds, 0 or more');
    if (opts.link !== undefined) {
      throw new RingtrainError('BAD_OPTION', '--link and --bandwidth-gbps both describe the link', { hint: 'pass a preset with --link, or a custom link with --bandwidth-gbps and --latency-us' });
    }
    links = [{ name: `custom ${gbps} Gbit/s`, bytesPerSec: (gbps * 1e9) / 8, latencySec: us * 1e-6 }];
  } else if (opts.latencyUs !== undefined) {
    throw new RingtrainError('BAD_OPTION', '--latency-us needs --bandwidth-gbps', { hint: 'a custom link needs both; or use --link nvlink|ethernet-100g' });
  } else if (opts.link !== undefined) {
    const preset = LINK_PRESETS[opts.link];
    if (!preset) {
      const names = Object.keys(LINK_PRESETS);
      throw new RingtrainError('BAD_OPTION', `--link "${opts.link}" is not a preset`, { hint: `use one of ${names.join(', ')}${nearest(opts.link, names)}`, details: { option: '--link', value: opts.link } });
    }
    links = [preset];
  } else {
    links = Object.values(LINK_PRESETS);
  }
  let flopsPerSec: number | null = null;
  if (opts.gflops !== undefined) {
    const g = Number(opts.gflops);
    if (!Number.isFinite(g) || g <= 0) throw optionError('--gflops', opts.gflops, 'a positive GFLOP/s of one rank\'s attention kernel');
    flopsPerSec = g * 1e9;
  }
  const list = (option: string, raw: string, parse: (s: string) => number) => {
    const xs = raw.split(',').map((s) => s.trim()).filter(Boolean).map(parse);
    if (xs.length === 0 || xs.some((x) => !Number.isSafeInteger(x) || x < 1)) throw optionError(option, raw, 'a comma list of positive integers (K and M suffixes allowed for tokens)');
    return Object.freeze(xs);
  };
  return Object.freeze({
    links: Object.freeze(links),
    flopsPerSec,
    workers: list('--sim-workers', opts.simWorkers, Number),
    seqLens: list('--sim-seq-lens', opts.simSeqLens, parseTokens),
  });
}
