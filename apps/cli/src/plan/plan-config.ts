import { RingtrainError, optionError } from '@ringtrain/core';
import { checkHybridDegree, divisors, machineMemoryBytes, nearestOf, resolveModel, type ModelConfig } from '@ringtrain/config';
import { checkSeqCoversWorkers, parseIntOption } from '../check/config';
import type { SimProblem } from '../bench/sim-model';
import { parseTokens } from '../bench/stats';
import type { CalibrationGiven } from './calibrate';

/** `ringtrain plan` options as commander hands them over. */
export interface PlanOptions {
  workers: string;
  seqLen: string;
  heads?: string;
  kvHeads?: string;
  headDim?: string;
  causal: boolean;
  model?: string;
  ulyssesDegree?: string;
  linkGbps?: string;
  linkLatencyUs?: string;
  tflops?: string;
  memoryGib?: string;
  json: boolean;
}

export interface PlanConfig {
  readonly problem: SimProblem;
  readonly model: ModelConfig | null;
  readonly ulyssesDegree?: number;
  readonly given: CalibrationGiven;
  readonly memoryPerRankBytes: number;
  /** Where the memory per rank came from. */
  readonly memorySource: string;
  readonly json: boolean;
}

const GiB = 2 ** 30;

export function planConfigFrom(o: PlanOptions): PlanConfig {
  const workers = parseIntOption('--workers', o.workers, 1);
  const seqLen = parseTokens(o.seqLen);
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw optionError('--seq-len', o.seqLen, 'a positive number of tokens (K and M suffixes allowed: 128K, 1M)');
  checkSeqCoversWorkers(seqLen, workers);
  const model = o.model === undefined ? null : resolveModel(o.model);
  if (model) {
    for (const [option, value] of [['--heads', o.heads], ['--kv-heads', o.kvHeads], ['--head-dim', o.headDim]] as const) {
      if (value !== undefined) {
        throw new RingtrainError('BAD_OPTION', `${option} ${value} and --model ${o.model} both give the layer's dims`, { hint: `drop ${option} (the model's are used), or set it in the model spec, e.g. --model ${o.model},heads=32`, details: { option, value } });
      }
    }
  }
  const heads = model ? model.heads : parseIntOption('--heads', required('--heads', o.heads), 1);
  const kvHeads = model ? model.kvHeads : o.kvHeads === undefined ? heads : parseIntOption('--kv-heads', o.kvHeads, 1);
  if (heads % kvHeads !== 0) {
    const valid = divisors(heads);
    throw new RingtrainError('BAD_OPTION', `--kv-heads ${kvHeads} does not divide --heads ${heads}: each K/V head serves a whole group of query heads`, {
      hint: `use --kv-heads ${nearestOf(valid, kvHeads).join(' or ')} (the divisors of ${heads}: ${valid.join(', ')})`,
      details: { option: '--kv-heads', value: kvHeads, valid },
    });
  }
  const headDim = model ? model.headDim : parseIntOption('--head-dim', required('--head-dim', o.headDim), 1);
  let ulyssesDegree: number | undefined;
  if (o.ulyssesDegree !== undefined) {
    ulyssesDegree = parseIntOption('--ulysses-degree', o.ulyssesDegree, 0);
    checkHybridDegree(ulyssesDegree, heads, workers); // names the option, its value and the degrees that work
  }
  const positive = (option: string, raw: string | undefined, what: string) => {
    if (raw === undefined) return undefined;
    const x = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(x) || x <= 0) throw optionError(option, raw, what);
    return x;
  };
  const latency = o.linkLatencyUs === undefined ? undefined : Number(o.linkLatencyUs);
  if (latency !== undefined && (o.linkLatencyUs!.trim() === '' || !Number.isFinite(latency) || latency < 0)) throw optionError('--link-latency-us', o.linkLatencyUs, 'a number of microseconds, 0 or more');
  const memoryGib = positive('--memory-gib', o.memoryGib, 'a positive number of GiB per rank');
  return Object.freeze({
    problem: { workers, seqLen, heads, kvHeads, headDim, causal: o.causal },
    model,
    ulyssesDegree,
    given: {
      tflops: positive('--tflops', o.tflops, 'a positive TFLOP/s of one rank\'s attention kernel'),
      linkGbps: positive('--link-gbps', o.linkGbps, 'a positive number of gigabits per second per rank (100 = 12.5 GB/s)'),
      linkLatencyUs: latency,
    },
    memoryPerRankBytes: memoryGib === undefined ? machineMemoryBytes() : memoryGib * GiB,
    memorySource: memoryGib === undefined ? 'this machine\'s memory (--memory-gib to set one rank\'s)' : 'given with --memory-gib',
    json: o.json,
  });
}

function required(option: string, raw: string | undefined): string {
  if (raw === undefined) throw new RingtrainError('BAD_OPTION', `${option} is required (or --model, whose dims are then used)`, { hint: `e.g. ringtrain plan --workers 8 --seq-len 128K --heads 32 --kv-heads 8 --head-dim 128`, details: { option } });
  return raw;
}
