import { RingtrainError } from '@ringtrain/core';
import { stagePasskeyOptions, type PositionMode, type TrainConfig } from '@ringtrain/config';
import {
  BYTE_TOKENS,
  IGNORE_TARGET,
  PackedDataset,
  copyBatch,
  isBuiltinSource,
  openDataSplit,
  packHeldOut,
  passkeyAccuracy,
  passkeyBatchOf,
  passkeyConfig,
  positionsInDocuments,
  loadSplitSource,
  openDataset,
  type Batch,
  type DataWarnings,
  type Dataset,
  type PasskeyBatch,
} from '@ringtrain/data';
import type { Layout } from '@ringtrain/layout';
import type { Replicas, TokenBatch } from '../world/replicas';
import { countTargets } from './shard-batch';

/** How the model reads a batch's documents: attention masked to them, and RoPE positions. */
export interface DocumentUse {
  /** Attention within documents (the run's docMask, resolved for the data). */
  docMask: boolean;
  positions: PositionMode;
}

/**
 * What the replicas get of a batch: its tokens and targets, with its documents only where the
 * model uses them (`docs` when masking, `ropePos` for per-document positions). A batch without
 * documents (passkey, copy: one per row) needs neither.
 */
export function modelBatch(batch: Batch, use: DocumentUse): TokenBatch {
  const out: TokenBatch = { inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize };
  if (batch.docs && use.docMask) out.docs = batch.docs;
  if (batch.docs && use.positions === 'per-document') out.ropePos = positionsInDocuments(batch.docs, batch.seqLen);
  return out;
}

/** Seed offset of the copy task's evaluation samples (other samples than any training stage draws). */
const COPY_EVAL_SEED_OFFSET = 1_000_003;

/** What an evaluation scores: sequences read in order from the first, never past the last. */
export interface EvalSource {
  /** What is scored, for output ("held-out: 3 of 250 documents of corpus/ (valFraction 0.01)"). */
  readonly description: string;
  /** Sequences it holds (Infinity for a synthetic task). */
  readonly sequences: number;
  readonly seqLen: number;
  /** Passkey samples (scored for accuracy too). */
  readonly passkey: boolean;
  /** Sequences first … first + count − 1 as one batch. */
  batch(first: number, count: number): Batch;
}

/** Packed file data scored in order, every sequence once. */
export function packedEvalSource(dataset: PackedDataset, description: string): EvalSource {
  return { description, sequences: dataset.sequenceCount, seqLen: dataset.seqLen, passkey: false, batch: (first, count) => dataset.batchOf(first, count) };
}

/** Files (text, JSONL, .bin; whatever @ringtrain/data reads) packed in order without shuffling: `ringtrain eval --data`. */
export function filesEvalSource(paths: readonly string[], seqLen: number, warnings?: DataWarnings): EvalSource {
  const dataset = PackedDataset.fromSource(paths, { seqLen, seed: 0, shuffle: false, warnings });
  return packedEvalSource(dataset, `${paths.join(',')} (${dataset.documentCount} documents)`);
}

/**
 * The held-out data of a run at `cfg.seqLen`: passkey samples of the eval split (keys never
 * trained on), copy-task samples of another seed, or for file data the held-out documents
 * (valData, or the fixed document split that training excludes). Null when file data holds
 * nothing out (a single document and no valData).
 */
export function heldOutEvalSource(cfg: TrainConfig, warnings?: DataWarnings): EvalSource | null {
  const seqLen = cfg.seqLen;
  if (isBuiltinSource(cfg.data, 'passkey')) {
    const config = passkeyConfig({ seqLen, ...stagePasskeyOptions(cfg, cfg.stages[cfg.stages.length - 1]) });
    return { description: 'passkey eval split (held-out keys)', sequences: Infinity, seqLen, passkey: true, batch: (first, count) => passkeyBatchOf(config, { seed: 0, split: 'eval', index: first }, count) };
  }
  if (isBuiltinSource(cfg.data, 'copy')) {
    const seed = cfg.seed + COPY_EVAL_SEED_OFFSET;
    return { description: `copy task samples of seed ${seed}`, sequences: Infinity, seqLen, passkey: false, batch: (first, count) => copyBatch(seqLen, seed, first, count) };
  }
  const source = loadSplitSource(cfg.data, { valFraction: cfg.valFraction, valData: cfg.valData, warnings });
  const dataset = packHeldOut(source, seqLen);
  return dataset ? packedEvalSource(dataset, `held-out: ${source.description}`) : null;
}

/**
 * Each stage's training stream (file data without its held-out documents) and the run's
 * held-out evaluation source, opened once: the main stage's file data is read a single time
 * for both. Stage seeds: the main stage uses the run's seed, warmup stage i its own.
 */
export function openRunData(cfg: TrainConfig, warnings?: DataWarnings): { datasets: Dataset[]; eval: EvalSource | null } {
  const last = cfg.stages.length - 1;
  let evalSource: EvalSource | null | undefined;
  const datasets = cfg.stages.map((stage, i) => {
    const seed = stageSeed(cfg, i);
    const heldOut = { valFraction: cfg.valFraction, valData: cfg.valData };
    if (i === last && !isBuiltinSource(stage.data, 'passkey') && !isBuiltinSource(stage.data, 'copy')) {
      const split = openDataSplit(stage.data, { seqLen: stage.seqLen, seed, ...heldOut, warnings });
      evalSource = split.heldOut ? packedEvalSource(split.heldOut, `held-out: ${split.source.description}`) : null;
      return split.train;
    }
    return openDataset([...stage.data], { seqLen: stage.seqLen, seed, passkey: stagePasskeyOptions(cfg, stage), heldOut, warnings });
  });
  return { datasets, eval: evalSource === undefined ? heldOutEvalSource(cfg, warnings) : evalSource };
}

/** The data seed of stage i: the run's seed for the main stage (a run without warmup reads its data the same way), another for each warmup stage. */
export function stageSeed(cfg: Pick<TrainConfig, 'seed' | 'stages'>, i: number): number {
  return i === cfg.stages.length - 1 ? cfg.seed : cfg.seed + 1_000_033 * (i + 1);
}

/**
 * Refuses to evaluate more sequences than the source holds (no silent wrap-around), naming how
 * many it holds and `option`, the setting that asks for them.
 */
export function checkEvalSamples(source: EvalSource, samples: number, option: string): void {
  if (samples <= source.sequences) return;
  throw new RingtrainError('HELD_OUT_TOO_SMALL', `the evaluation data (${source.description}) holds ${source.sequences} sequences of ${source.seqLen} tokens, fewer than the ${samples} asked for`, {
    hint: `use ${option} ${source.sequences} or fewer${source.description.startsWith('held-out') ? ', hold out more (--val-fraction), or name held-out files with --val-data' : ''}`,
    details: { sequences: source.sequences, samples, seqLen: source.seqLen },
  });
}

export interface EvalResult {
  /** Optimizer steps behind the evaluated weights (an eval after a 100-step run is step 100). */
  step: number;
  /**
   * Mean cross-entropy in nats over every scored target (targets ≠ −1): Σ over batches of the
   * batch's mean loss × its scored targets, divided by Σ scored targets.
   */
  loss: number;
  /**
   * Bits per byte: the nats of the targets that are bytes (ids 0–255) / ln 2 / the number of
   * such targets. `<|sep|>` targets (between documents) and padding count in neither sum; null
   * when no byte target was scored.
   */
  bitsPerByte: number | null;
  /** Targets scored (≠ −1): the loss denominator. */
  tokens: number;
  /** Byte targets among them: the bits-per-byte denominator. */
  byteTokens: number;
  /** Sequences scored. */
  sequences: number;
  /** The same as `sequences` (its earlier name). */
  samples: number;
  /** What was scored. */
  data: string;
  /** Passkey data: the fraction of samples with every answer digit right. */
  passkeyAccuracy?: number;
  /** Passkey data: the fraction of answer digits right. */
  digitAccuracy?: number;
}

export interface EvalOptions {
  /** Optimizer steps behind the weights. */
  step: number;
  /** Sequences to score, the first ones of the source (at most `source.sequences`). */
  samples: number;
  /** Sequences per eval step. */
  batchSize: number;
  /** The model's prevTokenEmbed (previous tokens each shard needs). */
  prevLags: number;
  /** The setting that asked for `samples`, for the error when the source holds fewer. */
  samplesOption?: string;
  /** How the model reads documents (default: not at all). */
  documents?: DocumentUse;
}

/**
 * Scores the first `samples` sequences of `source` in order, `batchSize` at a time. The loss is
 * the mean over all scored targets (not the mean of per-batch means, which would weigh a padded
 * last batch like a full one). Bits per byte need the nats of byte targets alone: a batch whose
 * scored targets include non-byte ids (`<|sep|>`) is scored a second time with those targets
 * masked; the others need no second pass.
 */
export async function evaluate(replicas: Pick<Replicas, 'evaluate'>, layout: Layout, source: EvalSource, o: EvalOptions): Promise<EvalResult> {
  checkEvalSamples(source, o.samples, o.samplesOption ?? '--eval-samples');
  let nats = 0;
  let tokens = 0;
  let byteNats = 0;
  let byteTokens = 0;
  let correct = 0;
  let digits = 0;
  let sequences = 0;
  for (let done = 0; done < o.samples; done += o.batchSize) {
    const b = Math.min(o.batchSize, o.samples - done);
    const batch = source.batch(done, b);
    const input = modelBatch(batch, o.documents ?? { docMask: false, positions: 'global' });
    const r = await replicas.evaluate(layout, input, o.prevLags);
    const scored = countTargets(batch.targets);
    const bytes = countByteTargets(batch.targets);
    nats += r.loss * scored;
    tokens += scored;
    if (bytes === scored) {
      byteNats += r.loss * scored;
    } else if (bytes > 0) {
      const byteOnly = batch.targets.map((t) => (isByte(t) ? t : IGNORE_TARGET));
      const rb = await replicas.evaluate(layout, { ...input, targets: byteOnly }, o.prevLags);
      byteNats += rb.loss * bytes;
    }
    byteTokens += bytes;
    sequences += b;
    if (source.passkey) {
      const acc = passkeyAccuracy(r.predictions, batch as PasskeyBatch);
      correct += acc.correct;
      digits += acc.digitAccuracy * acc.samples;
    }
  }
  const result: EvalResult = {
    step: o.step,
    loss: tokens > 0 ? nats / tokens : NaN,
    bitsPerByte: byteTokens > 0 ? byteNats / Math.LN2 / byteTokens : null,
    tokens,
    byteTokens,
    sequences,
    samples: sequences,
    data: source.description,
  };
  if (source.passkey) {
    result.passkeyAccuracy = correct / sequences;
    result.digitAccuracy = digits / sequences;
  }
  return result;
}

function isByte(t: number): boolean {
  return t >= 0 && t < BYTE_TOKENS;
}

function countByteTargets(targets: Int32Array): number {
  let n = 0;
  for (const t of targets) if (isByte(t)) n++;
  return n;
}
