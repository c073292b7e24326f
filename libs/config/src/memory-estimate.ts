import { totalmem } from 'node:os';
import { RingtrainError } from '@ringtrain/core';
import type { ModelConfig } from './model';
import type { BackendName, TrainConfig } from './train-config';

/**
 * How much memory a run needs, estimated before any process starts, so a size that cannot fit
 * is refused with the numbers (`WONT_FIT`) instead of ending in a native crash minutes later.
 * An order-of-magnitude estimate, not an exact one: it counts the arrays the code keeps, with
 * factors for the temporaries calibrated against measured peak RSS (benchmarks/NOTES.md and
 * `bench train`, peak RSS per worker: small, P=4, S=65536: 1.30 GiB estimated, 1.5–1.6 GiB
 * measured; small, P=2, S=8192: 530 MiB, ~580 MiB; tiny, P=2, S=65536: 412 MiB, 385 MiB; rsa
 * tiny, P=2, S=4096: 724 MiB, 695–890 MiB).
 *
 * Per worker, for each stage (S = seqLen, B = batchSize, P = workers), all float32:
 *
 *   N          = V·d + lags·d² + L·(2d + d·(H + 2·Hkv)·Dh + H·Dh·d + 2·d·f) + d     parameters (f = mlpRatio·d)
 *   state      = 4N · 5          weights, gradients, AdamW m and v, one copy in flight (all-reduce, state streams);
 *                                replicated on every worker (eval: 4N · 2)
 *   T          = B · ⌈S/P⌉       the tokens of this worker's shard
 *   activations= L · (T · (2d + f + (3H + 2·Hkv)·Dh + H) + kept_strategy)   kept per layer for backward
 *                                (x, q/k/v, out and lse, the output rows, x1, u); eval keeps one layer
 *   kept_strategy: ring/striped/zigzag 0 (blockwise: no S×S matrix);
 *                  ulysses 2·B·H·S·Dh/P + B·H·S/P + 2·max(B·Hkv/P, 1)·S·Dh (its heads over the whole sequence);
 *                  rsa B·H·⌈S/P⌉·(S + Dh) (the probabilities of its rows over all S keys);
 *                  hybrid (degree U) 2·B·H·⌈S/P⌉·Dh + B·H·⌈S/P⌉ + 2·max(B·Hkv/U, 1)·U·⌈S/P⌉·Dh
 *                  (its heads of the group's tokens, and the ring's out and lse on them)
 *   logits     = T · (4V + (2 + lags)·d)     the loss head's [T, V] logits, softmax and their gradients (eval: 2V)
 *   workspace  = max(layer: T·(2f + 2·(H + 2·Hkv)·Dh + 3d),
 *                    attention: K/V blocks in flight 8·B·Hkv·⌈S/P⌉·Dh, plus with the plain tfjs kernel
 *                    (backend cpu/tensorflow/gpu) 4·B·H·⌈S/P⌉² scores of one block; rsa 6·B·H·⌈S/P⌉·S;
 *                    hybrid's blocks are U times the tokens for 1/U of the heads: 8·max(B·Hkv/U, 1)·U·⌈S/P⌉·Dh,
 *                    scores 4·B·H·U·⌈S/P⌉²)
 *   worker     = 200 MiB (a Node process with tfjs and the native kernels: a tiny worker measured 167 MiB)
 *                + state + max over stages of (activations + logits + workspace)
 *
 * Beside the workers, the same machine runs `train` and the coordinator (2 × 200 MiB, the
 * checkpoint state 12N, the batches 32·B·S bytes). A run fits when
 * workers × worker + beside ≤ this machine's memory (os.totalmem, or a container's lower limit).
 * Under `--backend webgpu` the activations live on the GPU, whose memory is not known before a
 * worker starts: only the host part (process, state) is checked there.
 */

const MiB = 2 ** 20;
const F32 = 4;

/** A sequence's positions, and a step's tokens, are int32: at most 2^31 tokens. */
export const MAX_TOKENS = 2 ** 31;
/** Worker processes of one run: a sane maximum (every worker holds a whole replica of the model). */
export const MAX_WORKERS = 4096;
/** Shorter sequences are not offered as a fix (a passkey sample alone needs about 100 tokens). */
const MIN_SUGGESTED_SEQ_LEN = 256;
/** What one Node process with tfjs and the native kernels takes before any tensor (a tiny worker: 167 MiB). */
export const PROCESS_OVERHEAD_BYTES = 200 * MiB;

/** What the estimate reads of a run (a TrainConfig, or the sizes `check --train` and `eval` use). */
export interface RunShape {
  readonly workers: number;
  readonly strategy: string;
  readonly model: ModelConfig;
  readonly backend: BackendName;
  readonly stages: ReadonlyArray<{ readonly seqLen: number; readonly batchSize: number }>;
  /** hybrid's Ulysses degree (ranks per group). */
  readonly ulyssesDegree?: number;
}

export interface MemoryEstimate {
  /** Worker processes on this machine. */
  readonly workers: number;
  /** Peak bytes of one worker. */
  readonly perWorkerBytes: number;
  /** Peak bytes of the other processes of the command on this machine (train and coordinator, or check's reference). */
  readonly besideBytes: number;
  /** What those are, for the message. */
  readonly beside: string;
  /** perWorkerBytes in parts, for the message. */
  readonly parts: Readonly<Record<string, number>>;
}

/** Parameters of the model, as worker/src/model/params.ts lays them out (tested equal to its countParams). */
export function modelParamCount(m: ModelConfig): number {
  const d = m.dModel;
  const hidden = m.mlpRatio * d;
  const perLayer = 2 * d + d * (m.heads + 2 * m.kvHeads) * m.headDim + m.heads * m.headDim * d + 2 * d * hidden;
  return m.vocabSize * d + m.prevTokenEmbed * d * d + m.layers * perLayer + d;
}

/** Kernels that tile a block (no score matrix of the block): the native and WGSL ones; `auto` is taken to pick one. */
const tiled = (backend: BackendName) => backend === 'native' || backend === 'webgpu' || backend === 'auto';

/**
 * Floats one worker holds for one attention call beyond the shard's q/k/v and output: `kept` until
 * the layer's backward, `transient` at the call's peak. B·H and B·Hkv: the batch folded into heads.
 */
function attentionFloats(strategy: string, blockScores: boolean, S: number, P: number, BH: number, BHkv: number, Dh: number, U = 1): { kept: number; transient: number } {
  const Sr = Math.ceil(S / P);
  if (strategy === 'hybrid' && U > 1) {
    const kvRows = 2 * Math.max(BHkv / U, 1) * U * Sr * Dh; // this rank's K/V heads of the group's U·Sr tokens
    return { kept: 2 * BH * Sr * Dh + BH * Sr + kvRows, transient: 4 * kvRows + (blockScores ? 4 * BH * U * Sr * Sr : 0) };
  }
  if (strategy === 'rsa') return { kept: BH * Sr * (S + Dh), transient: 6 * BH * Sr * S };
  if (strategy === 'ulysses') {
    const kvPerRank = Math.max(BHkv / P, 1); // K/V heads are replicated when there are fewer than P
    const kept = (2 * BH * S * Dh) / P + (BH * S) / P + 2 * kvPerRank * S * Dh;
    return { kept, transient: 8 * kvPerRank * Sr * Dh + (blockScores ? (4 * BH * Sr * Sr) / P : 0) };
  }
  return { kept: 0, transient: 8 * BHkv * Sr * Dh + (blockScores ? 4 * BH * Sr * Sr : 0) };
}

/** One worker's peak bytes for one stage, without the process and the state (see the formula above). */
function stageBytes(run: RunShape, seqLen: number, batchSize: number, mode: 'train' | 'eval'): { activations: number; logits: number; workspace: number } {
  const m = run.model;
  const { dModel: d, heads: H, kvHeads: Hkv, headDim: Dh, vocabSize: V } = m;
  const f = m.mlpRatio * d;
  const P = run.workers;
  const T = batchSize * Math.ceil(seqLen / P);
  const attn = attentionFloats(run.strategy, !tiled(run.backend), seqLen, P, batchSize * H, batchSize * Hkv, Dh, run.ulyssesDegree);
  const keptLayers = mode === 'train' ? m.layers : 1;
  const activations = keptLayers * (T * (2 * d + f + (3 * H + 2 * Hkv) * Dh + H) + attn.kept);
  const logits = T * ((mode === 'train' ? 4 : 2) * V + (2 + m.prevTokenEmbed) * d);
  const workspace = Math.max(T * (2 * f + 2 * (H + 2 * Hkv) * Dh + 3 * d), attn.transient);
  return { activations: F32 * activations, logits: F32 * logits, workspace: F32 * workspace };
}

/**
 * Peak memory of a training run (or, with mode 'eval', of `ringtrain eval`: forward only) on one
 * machine that runs all of its `workers`.
 */
export function estimateRunMemory(run: RunShape, mode: 'train' | 'eval' = 'train'): MemoryEstimate {
  const N = modelParamCount(run.model);
  const state = F32 * N * (mode === 'train' ? 5 : 2);
  let peak = { activations: 0, logits: 0, workspace: 0 };
  let maxTokens = 0;
  for (const s of run.stages) {
    const b = stageBytes(run, s.seqLen, s.batchSize, mode);
    if (b.activations + b.logits + b.workspace >= peak.activations + peak.logits + peak.workspace) peak = b;
    maxTokens = Math.max(maxTokens, s.seqLen * s.batchSize);
  }
  // On the GPU the activations are device memory: the host holds the process and the state.
  const onHost = run.backend === 'webgpu' ? { activations: 0, logits: 0, workspace: 0 } : peak;
  const parts = { process: PROCESS_OVERHEAD_BYTES, 'parameters and optimizer state': state, activations: onHost.activations, logits: onHost.logits, workspace: onHost.workspace };
  const beside = (mode === 'train' ? 2 * PROCESS_OVERHEAD_BYTES + 3 * F32 * N : PROCESS_OVERHEAD_BYTES + 2 * F32 * N) + 32 * maxTokens;
  return { workers: run.workers, perWorkerBytes: sum(parts), besideBytes: beside, beside: mode === 'train' ? '`train` and the coordinator' : 'the coordinator', parts };
}

/**
 * `check --train`: every strategy's worker step (the largest), and beside the workers the
 * single-process reference step: the whole model over the whole batch with plain softmax
 * attention under tf.grads, which keeps [B, H, S, S] scores and probabilities per layer
 * (3 · L·B·H·S² floats with the mask), the activations twice over and the parameters six times
 * (weights, gradients, AdamW state, the workers' gathered gradients and parameters).
 */
export function estimateTrainCheckMemory(run: RunShape, strategies: readonly string[]): MemoryEstimate {
  const per = strategies.map((strategy) => estimateRunMemory({ ...run, strategy }));
  const worst = per.reduce((a, b) => (b.perWorkerBytes > a.perWorkerBytes ? b : a));
  const { seqLen: S, batchSize: B } = run.stages[run.stages.length - 1];
  const m = run.model;
  const reference = stageBytes({ ...run, workers: 1, strategy: 'ring' }, S, B, 'train');
  const scores = F32 * (3 * m.layers * B * m.heads * S * S + B * S * S);
  const beside = PROCESS_OVERHEAD_BYTES + 6 * F32 * modelParamCount(m) + 2 * (reference.activations + reference.logits) + scores;
  return { ...worst, besideBytes: beside, beside: 'the single-process reference step' };
}

/** What the attention check sizes: one problem, every strategy on it. */
export interface AttentionCheckShape {
  readonly seqLen: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly workers: number;
  readonly strategies: readonly string[];
  readonly backend: BackendName;
  /** hybrid's Ulysses degree, when strategies name it. */
  readonly ulyssesDegree?: number;
}

/**
 * `check` (attention): each worker holds its shard's q, k, v, dout and results (8 arrays of
 * ⌈S/P⌉ rows, twice: tensors and wire copies) and its strategy's attention floats; the check
 * process holds the whole inputs, the float64 reference and the gathered results:
 * 24 bytes · S·Dh·(2H + 2Hkv).
 */
export function estimateAttentionCheckMemory(p: AttentionCheckShape): MemoryEstimate {
  const { seqLen: S, heads: H, kvHeads: Hkv, headDim: Dh, workers: P } = p;
  const shard = F32 * 2 * Math.ceil(S / P) * Dh * (4 * H + 4 * Hkv);
  const attention = Math.max(0, ...p.strategies.map((s) => {
    const a = attentionFloats(s, !tiled(p.backend), S, P, H, Hkv, Dh, p.ulyssesDegree);
    return F32 * (a.kept + a.transient);
  }));
  const parts = { process: PROCESS_OVERHEAD_BYTES, 'shard tensors': shard, attention };
  return { workers: P, perWorkerBytes: sum(parts), besideBytes: PROCESS_OVERHEAD_BYTES + 24 * S * Dh * (2 * H + 2 * Hkv), beside: 'the inputs and the reference', parts };
}

/** `check` (attention): refuses a problem whose workers and reference would not fit this machine (`WONT_FIT`). */
export function assertAttentionCheckFits(p: AttentionCheckShape, machineBytes = machineMemoryBytes()): void {
  const knobs: SizeKnob[] = [
    { option: '--seq-len', value: p.seqLen, min: Math.max(p.workers, Math.min(p.seqLen, MIN_SUGGESTED_SEQ_LEN)), max: MAX_TOKENS, estimate: (v) => estimateAttentionCheckMemory({ ...p, seqLen: v }) },
    { option: '--workers', value: p.workers, min: 1, max: MAX_WORKERS, estimate: (v) => estimateAttentionCheckMemory({ ...p, workers: v }) },
  ];
  const what = `check at seq-len ${p.seqLen} (${p.heads} heads of ${p.headDim}; ${p.workers} workers; ${p.strategies.join(', ')})`;
  assertWithinLimits(what, p.seqLen, p.workers, estimateAttentionCheckMemory(p), knobs, machineBytes);
  assertFitsMemory(what, estimateAttentionCheckMemory(p), knobs, machineBytes, withoutRsa(p.strategies, (strategies) => fitsMemory(estimateAttentionCheckMemory({ ...p, strategies }), machineBytes)));
}

/** `check --train`: refuses a step whose workers and single-process reference would not fit this machine (`WONT_FIT`). */
export function assertTrainCheckFits(run: RunShape, strategies: readonly string[], machineBytes = machineMemoryBytes()): void {
  const { seqLen, batchSize } = run.stages[run.stages.length - 1];
  const at = (change: Partial<RunShape>) => estimateTrainCheckMemory({ ...run, ...change }, strategies);
  const knobs: SizeKnob[] = [
    { option: '--seq-len', value: seqLen, min: Math.max(run.workers, Math.min(seqLen, MIN_SUGGESTED_SEQ_LEN)), max: Math.floor(MAX_TOKENS / batchSize), estimate: (v) => at({ stages: [{ seqLen: v, batchSize }] }) },
    { option: '--batch-size', value: batchSize, min: 1, max: Math.floor(MAX_TOKENS / seqLen), estimate: (v) => at({ stages: [{ seqLen, batchSize: v }] }) },
    { option: '--workers', value: run.workers, min: 1, max: MAX_WORKERS, estimate: (v) => at({ workers: v }) },
  ];
  const what = `check --train at seq-len ${seqLen} × batch ${batchSize} (${run.model.layers} layers, d ${run.model.dModel}; ${run.workers} workers; ${strategies.join(', ')})`;
  assertWithinLimits(what, seqLen * batchSize, run.workers, at({}), knobs, machineBytes);
  assertFitsMemory(what, at({}), knobs, machineBytes, withoutRsa(strategies, (rest) => fitsMemory(estimateTrainCheckMemory(run, rest), machineBytes)));
}

/** rsa keeps S²/P scores: where the other strategies fit without it, say so. */
function withoutRsa(strategies: readonly string[], fits: (strategies: readonly string[]) => boolean): string[] {
  const rest = strategies.filter((s) => s !== 'rsa');
  return rest.length > 0 && rest.length < strategies.length && fits(rest) ? [`leave rsa (which keeps S²/P scores per worker) out: --strategies ${rest.join(',')}`] : [];
}

/** The limits of checkSizeLimits, for the commands whose sizes are options rather than a TrainConfig. */
function assertWithinLimits(what: string, tokens: number, workers: number, estimate: MemoryEstimate, knobs: readonly SizeKnob[], machineBytes: number): void {
  const problems = [
    ...(tokens > MAX_TOKENS ? [`more than the ${MAX_TOKENS} tokens a sequence or a step can hold (positions and token indices are int32)`] : []),
    ...(workers > MAX_WORKERS ? [`more than ${MAX_WORKERS} workers, the most ringtrain runs`] : []),
  ];
  if (problems.length > 0) throw wontFit(`${what} asks for ${problems.join(' and ')}; it would need ${describeNeed(estimate, machineBytes)}`, knobs, machineBytes, estimate);
}

/** This machine's memory: os.totalmem(), or the container's limit where that is lower. */
export function machineMemoryBytes(): number {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : undefined;
  const total = totalmem();
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}

export const fitsMemory = (e: MemoryEstimate, machineBytes: number): boolean => e.workers * e.perWorkerBytes + e.besideBytes <= machineBytes;

/** One size a user may lower: its option name, its value, the least it may be, and the estimate at another value. */
export interface SizeKnob {
  readonly option: string;
  readonly value: number;
  readonly min: number;
  /** The most it may be whatever the memory (e.g. 2^31 tokens). */
  readonly max: number;
  readonly estimate: (value: number) => MemoryEstimate;
}

/** The largest value of a knob below its current one (and at most its max) that fits, or null; estimates grow with every knob. */
export function largestFitting(knob: SizeKnob, machineBytes: number): number | null {
  if (knob.value <= knob.min || !fitsMemory(knob.estimate(knob.min), machineBytes)) return null;
  let lo = knob.min; // fits
  let hi = Math.min(knob.value, knob.max + 1); // does not, or is beyond the max
  if (fitsMemory(knob.estimate(hi - 1), machineBytes)) return hi - 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fitsMemory(knob.estimate(mid), machineBytes)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Refuses (`WONT_FIT`) what will not fit this machine's memory: the message names the estimate
 * per worker and its parts, the machine's memory and the share of each worker; the hint names
 * the largest value of each knob that fits.
 */
export function assertFitsMemory(what: string, estimate: MemoryEstimate, knobs: readonly SizeKnob[], machineBytes = machineMemoryBytes(), otherFixes: readonly string[] = []): void {
  if (fitsMemory(estimate, machineBytes)) return;
  throw wontFit(`${what} needs ${describeNeed(estimate, machineBytes)}`, knobs, machineBytes, estimate, otherFixes);
}

function describeNeed(e: MemoryEstimate, machineBytes: number): string {
  const parts = Object.entries(e.parts).filter(([, b]) => b > 0).map(([k, b]) => `${k} ${formatBytes(b)}`).join(', ');
  const need = `about ${formatBytes(e.perWorkerBytes)} per worker (${parts}), but this machine has ${formatBytes(machineBytes)} of memory`;
  if (e.besideBytes >= machineBytes) return `${need}, less than ${e.beside} alone would hold (${formatBytes(e.besideBytes)})`;
  const share = (machineBytes - e.besideBytes) / e.workers;
  return `${need}: after ${formatBytes(e.besideBytes)} for ${e.beside}, ${formatBytes(share)} for each of ${e.workers} worker${e.workers === 1 ? '' : 's'}`;
}

function wontFit(message: string, knobs: readonly SizeKnob[], machineBytes: number, estimate: MemoryEstimate, otherFixes: readonly string[] = []): RingtrainError {
  const fixes = knobs.flatMap((k) => {
    const best = largestFitting(k, machineBytes);
    return best === null ? [] : [k.option.endsWith('=') ? `${k.option}${best}` : `${k.option} ${best}`];
  });
  const others = otherFixes.map((f) => `; or ${f}`).join('');
  return new RingtrainError('WONT_FIT', message, {
    hint: fixes.length > 0
      ? `the most that fits this machine, changing one at a time: ${fixes.join(', ')}${others}; or use a machine with more memory`
      : `no smaller value of one of these options alone fits this machine${others}; lower several, choose a smaller model, or use a machine with more memory`,
    details: { perWorkerBytes: estimate.perWorkerBytes, workers: estimate.workers, besideBytes: estimate.besideBytes, machineBytes },
  });
}

/** Option names of a run's sizes, as the command calls them (null: the command cannot change that size); `main`: the last stage. */
export interface RunKnobNames {
  readonly seqLen: (stage: number, main: boolean) => string | null;
  readonly batchSize: (stage: number, main: boolean) => string | null;
  readonly workers: string | null;
  readonly layers: string | null;
}

/** The option names of `train` and `bench train`: flags for the main stage, config keys for the warmup stages. */
export const TRAIN_KNOB_NAMES: RunKnobNames = Object.freeze({
  seqLen: (i: number, main: boolean) => (main ? '--seq-len' : `seqLenWarmup[${i}].seqLen`),
  batchSize: (i: number, main: boolean) => (main ? '--batch-size' : `seqLenWarmup[${i}].batchSize`),
  workers: '--workers',
  layers: '--model <preset>,layers=',
});

/**
 * Refuses (`WONT_FIT`) a training run (or `eval`, mode 'eval') whose workers, all on this
 * machine, would not fit its memory; `names` are the options the command offers to lower.
 */
export function assertRunFits(command: string, run: RunShape, mode: 'train' | 'eval', names: RunKnobNames, machineBytes = machineMemoryBytes()): void {
  const main = run.stages[run.stages.length - 1];
  const warm = run.stages.length > 1 ? ` after ${run.stages.length - 1} warmup stage${run.stages.length > 2 ? 's' : ''}` : '';
  const what = `${command} at seq-len ${main.seqLen} × batch ${main.batchSize}${warm} (${run.model.layers} layers, d ${run.model.dModel}; ${run.workers} ${run.strategy} workers)`;
  assertFitsMemory(what, estimateRunMemory(run, mode), runKnobs(run, mode, names), machineBytes);
}

/** The sizes of a run a user may lower: each stage's sequence length and batch size, the workers, the layers. */
export function runKnobs(run: RunShape, mode: 'train' | 'eval', names: RunKnobNames): SizeKnob[] {
  const at = (change: Partial<RunShape>) => estimateRunMemory({ ...run, ...change }, mode);
  const inStage = (i: number, s: { seqLen?: number; batchSize?: number }) => ({ stages: run.stages.map((x, j) => (j === i ? { ...x, ...s } : x)) });
  const knobs: SizeKnob[] = [];
  run.stages.forEach((s, i) => {
    const seq = names.seqLen(i, i === run.stages.length - 1);
    const batch = names.batchSize(i, i === run.stages.length - 1);
    if (seq) knobs.push({ option: seq, value: s.seqLen, min: Math.max(run.workers, Math.min(s.seqLen, MIN_SUGGESTED_SEQ_LEN)), max: Math.floor(MAX_TOKENS / s.batchSize), estimate: (v) => at(inStage(i, { seqLen: v })) });
    if (batch) knobs.push({ option: batch, value: s.batchSize, min: 1, max: Math.floor(MAX_TOKENS / s.seqLen), estimate: (v) => at(inStage(i, { batchSize: v })) });
  });
  if (names.workers) knobs.push({ option: names.workers, value: run.workers, min: 1, max: MAX_WORKERS, estimate: (v) => at({ workers: v }) });
  if (names.layers) knobs.push({ option: names.layers, value: run.model.layers, min: 1, max: Infinity, estimate: (v) => at({ model: { ...run.model, layers: v } }) });
  return knobs;
}

/**
 * Sizes beyond what ringtrain can address at all, refused while the config is validated
 * (before anything is allocated): a sequence or a step of more than 2^31 tokens (positions and
 * token indices are int32). The message adds what the run would
 * need against this machine's memory, and the hint the largest sizes that fit.
 */
export function checkSizeLimits(cfg: TrainConfig, machineBytes = machineMemoryBytes()): void {
  const problems: string[] = [];
  cfg.stages.forEach((s, i) => {
    const where = i === cfg.stages.length - 1 ? '' : `seqLenWarmup[${i}].`;
    if (s.seqLen > MAX_TOKENS) problems.push(`${where}seqLen ${s.seqLen} is beyond the ${MAX_TOKENS} tokens a sequence can hold (positions are int32)`);
    else if (s.seqLen * s.batchSize > MAX_TOKENS) problems.push(`${where}seqLen ${s.seqLen} × ${where}batchSize ${s.batchSize} is beyond the ${MAX_TOKENS} tokens a step can hold (token indices are int32)`);
  });
  if (problems.length === 0) return;
  const estimate = estimateRunMemory(cfg);
  const knobs = runKnobs(cfg, 'train', { ...TRAIN_KNOB_NAMES, layers: null });
  throw wontFit(`${problems.join('; ')}; the run would need ${describeNeed(estimate, machineBytes)}`, knobs, machineBytes, estimate);
}

const sum = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);

/** 1536 -> "1.5 KiB"; binary units up to EiB. */
function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'more than can be counted';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(bytes)} bytes` : `${bytes >= 100 ? Math.round(bytes).toLocaleString('en-US') : bytes.toFixed(1)} ${units[i]}`;
}
