import { RingtrainError, optionError } from '@ringtrain/core';
import { didYouMean as nearest } from '@ringtrain/config';
import { parseIntOption } from '../check/config';
import { parseTokens } from './stats';

/** The kernels `bench kernels` can time, in the order they run. */
export const BENCH_KERNELS = ['native', 'tfjs', 'tfjs-native-matmul', 'reference'] as const;
export type BenchKernelName = (typeof BENCH_KERNELS)[number];

/** `ringtrain bench kernels` options as commander hands them over. */
export interface KernelsOptions {
  seqLens: string;
  headDim: string;
  heads: string;
  causal: boolean;
  kernels: string;
  reps: string;
  warmup: string;
  sgemmSize: string;
  threads: string;
  maxSeconds: string;
  referenceMaxSeq: string;
  seed: string;
  blocks?: boolean;
  json: boolean;
}

export interface KernelsConfig {
  readonly seqLens: readonly number[];
  readonly headDim: number;
  readonly heads: number;
  readonly causal: boolean;
  readonly kernels: readonly BenchKernelName[];
  readonly reps: number;
  readonly warmup: number;
  /** M = N = K of the headline sgemm. */
  readonly sgemmSize: number;
  /** Native threads (sgemm and the native kernel); 0 = the addon's default. */
  readonly threads: number;
  /** A kernel is skipped at a size whose estimated warmup + reps time is above this. */
  readonly maxSeconds: number;
  /** The plain reference runs only up to this many tokens. */
  readonly referenceMaxSeq: number;
  readonly seed: number;
  /** Time masked blocks against a full one (run-blocks.ts) instead of the kernels against sgemm. */
  readonly blocks: boolean;
  readonly json: boolean;
}

/** --seq-lens: a comma list of positive token counts (K suffix allowed). */
export function parseSeqLens(raw: string): number[] {
  const seqLens = raw.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const n = parseTokens(s);
    if (!Number.isSafeInteger(n) || n < 1) throw optionError('--seq-lens', raw, 'a comma list of positive token counts, e.g. 1024,2048,4K');
    return n;
  });
  if (seqLens.length === 0) throw optionError('--seq-lens', raw, 'a comma list of positive token counts, e.g. 1024,2048,4K');
  return seqLens;
}

export function kernelsConfigFrom(opts: KernelsOptions): KernelsConfig {
  const seqLens = parseSeqLens(opts.seqLens);
  const kernels = opts.kernels.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kernels) {
    if (!(BENCH_KERNELS as readonly string[]).includes(k)) {
      throw new RingtrainError('BAD_OPTION', `--kernels: unknown kernel "${k}"`, {
        hint: `use a comma list of ${BENCH_KERNELS.join(', ')}${nearest(k, BENCH_KERNELS)}`,
        details: { option: '--kernels', value: k },
      });
    }
  }
  if (kernels.length === 0) throw optionError('--kernels', opts.kernels, `a comma list of ${BENCH_KERNELS.join(', ')}`);
  const maxSeconds = Number(opts.maxSeconds);
  if (!Number.isFinite(maxSeconds) || maxSeconds <= 0) throw optionError('--max-seconds', opts.maxSeconds, 'a positive number of seconds');
  return Object.freeze({
    seqLens: Object.freeze([...new Set(seqLens)]),
    headDim: parseIntOption('--head-dim', opts.headDim, 1),
    heads: parseIntOption('--heads', opts.heads, 1),
    causal: opts.causal,
    kernels: Object.freeze(BENCH_KERNELS.filter((k) => kernels.includes(k))),
    reps: parseIntOption('--reps', opts.reps, 1),
    warmup: parseIntOption('--warmup', opts.warmup, 0),
    sgemmSize: parseIntOption('--sgemm-size', opts.sgemmSize, 1),
    threads: parseIntOption('--threads', opts.threads, 0),
    maxSeconds,
    referenceMaxSeq: parseIntOption('--reference-max-seq', opts.referenceMaxSeq, 1),
    seed: parseIntOption('--seed', opts.seed, 0),
    blocks: opts.blocks ?? false,
    json: opts.json,
  });
}
