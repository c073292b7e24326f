import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RingtrainError, type Logger } from '@ringtrain/core';
import { STRATEGY_LAYOUTS, stagePasskeyOptions, type TrainConfig } from '@ringtrain/config';
import { isBuiltinSource, openDataset, passkeyAccuracy, passkeyBatch, type Batch, type PasskeyBatch } from '@ringtrain/data';
import { makeLayout, type Layout } from '@ringtrain/layout';
import type { Coordinator } from '../coordinator';
import { Replicas } from '../world/replicas';
import { saveModel } from './save-model';

/** One line of metrics.jsonl. */
export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerSec: number;
  stepMs: number;
  /** Slowest rank's split of the step. */
  computeMs: number;
  /** Attention kernels (without the waits for peers inside attention). */
  attentionMs: number;
  /** Exposed communication: waits for attention transfers (ring blocks, all-to-all) compute did not hide. */
  commMs: number;
  allReduceMs: number;
  optimizerMs: number;
  /** Passkey accuracy of this training batch (argmax of the answer digits), when the data is passkey. */
  taskAccuracy?: number;
  peakRssBytes: number;
}

export interface EvalResult {
  step: number;
  loss: number;
  samples: number;
  passkeyAccuracy?: number;
  digitAccuracy?: number;
}

export type TrainEvent =
  | { event: 'step'; metrics: StepMetrics; steps: number; etaSec: number }
  | { event: 'eval'; result: EvalResult }
  | { event: 'done'; summary: TrainSummary };

export interface TrainSummary {
  runDir: string;
  steps: number;
  finalLoss: number;
  firstLoss: number;
  eval: EvalResult | null;
  wallSec: number;
}

/**
 * The coordinator's training loop: shard each batch by the strategy's layout, run the step on
 * every rank, aggregate loss and timings, check replicas stay identical, write metrics.jsonl,
 * and evaluate on held-out data.
 */
export async function runTraining(cfg: TrainConfig, coordinator: Coordinator, logger: Logger, onEvent: (e: TrainEvent) => void): Promise<TrainSummary> {
  mkdirSync(cfg.runDir, { recursive: true });
  const metricsFile = join(cfg.runDir, 'metrics.jsonl');
  writeFileSync(metricsFile, '');
  const layout = makeLayout(STRATEGY_LAYOUTS[cfg.strategy], cfg.seqLen, cfg.workers);
  // The main stage reads the data as a run without warmup would; warmup stages get their own seeds.
  const stagePlan = cfg.stages.map((stage, i) => ({
    ...stage,
    layout: i === cfg.stages.length - 1 ? layout : makeLayout(STRATEGY_LAYOUTS[cfg.strategy], stage.seqLen, cfg.workers),
    seed: i === cfg.stages.length - 1 ? cfg.seed : cfg.seed + 1_000_033 * (i + 1),
  }));
  // Every stage's data is opened before any work starts, so a stage the data cannot fill fails first.
  const datasets = stagePlan.map((s) =>
    openDataset([...s.data], { seqLen: s.seqLen, seed: s.seed, passkey: stagePasskeyOptions(cfg, s), warnings: logger }),
  );

  const replicas = new Replicas(coordinator);
  await replicas.init(cfg);

  const start = performance.now();
  let firstLoss = NaN;
  let lastLoss = NaN;
  let peakRss = 0;
  let evalResult: EvalResult | null = null;
  const total = cfg.totalSteps;
  let step = 0;
  for (const [i, stage] of stagePlan.entries()) {
    const dataset = datasets[i];
    const isPasskey = isBuiltinSource(stage.data, 'passkey');
    if (stagePlan.length > 1) logger.info(`stage: ${stage.data.join(',')} at seqLen ${stage.seqLen} × batch ${stage.batchSize} for ${stage.steps} steps`);
    for (let stageStep = 0; stageStep < stage.steps; stageStep++, step++) {
      const t0 = performance.now();
      const batch = dataset.nextBatch(stage.batchSize);
      const hashCheck = (step + 1) % cfg.hashCheckEvery === 0 || step === total - 1;
      const r = await replicas.step(stage.layout, { ...batch, batchSize: stage.batchSize }, cfg.model.prevTokenEmbed, { hashCheck, predictions: isPasskey, grads: false }, `step ${step}`);
      const stepMs = performance.now() - t0;
      if (!Number.isFinite(r.loss)) {
        throw new RingtrainError('LOSS_NOT_FINITE', `the loss became ${r.loss} at step ${step}`, { hint: 'lower --lr, or check the data' });
      }
      if (step === 0) firstLoss = r.loss;
      lastLoss = r.loss;
      peakRss = Math.max(peakRss, ...r.rssBytes);
      const metrics: StepMetrics = {
        step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm,
        tokens: stage.batchSize * stage.seqLen,
        tokensPerSec: (stage.batchSize * stage.seqLen) / (stepMs / 1000),
        stepMs,
        computeMs: r.computeMs,
        attentionMs: r.attentionMs,
        commMs: r.commMs,
        allReduceMs: r.allReduceMs,
        optimizerMs: r.optimizerMs,
        peakRssBytes: Math.max(...r.rssBytes),
      };
      if (isPasskey && r.predictions) metrics.taskAccuracy = passkeyAccuracy(r.predictions, batch as PasskeyBatch).accuracy;
      appendFileSync(metricsFile, JSON.stringify(metrics) + '\n');
      const elapsed = (performance.now() - start) / 1000;
      onEvent({ event: 'step', metrics, steps: total, etaSec: etaSec(stagePlan, step, elapsed) });
      const evalNow = cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0 && step !== total - 1;
      if (evalNow) {
        evalResult = await evaluate(cfg, replicas, layout, step + 1);
        onEvent({ event: 'eval', result: evalResult });
      }
    }
  }
  await saveModel(cfg.runDir, replicas, { model: cfg.model, steps: total });
  evalResult = await evaluate(cfg, replicas, layout, total);
  onEvent({ event: 'eval', result: evalResult });
  appendFileSync(join(cfg.runDir, 'eval.jsonl'), JSON.stringify(evalResult) + '\n');
  const summary: TrainSummary = { runDir: cfg.runDir, steps: total, firstLoss, finalLoss: lastLoss, eval: evalResult, wallSec: (performance.now() - start) / 1000 };
  writeFileSync(join(cfg.runDir, 'summary.json'), JSON.stringify({ ...summary, peakRssBytesPerWorker: peakRss }, null, 2) + '\n');
  onEvent({ event: 'done', summary });
  logger.info(`trained ${total} steps: loss ${firstLoss.toFixed(3)} -> ${lastLoss.toFixed(3)}`);
  return summary;
}

/** Time left, with the remaining steps of each stage weighted by its tokens (short stages are cheap). */
function etaSec(stages: ReadonlyArray<{ seqLen: number; batchSize: number; steps: number }>, step: number, elapsedSec: number): number {
  let done = 0;
  let left = 0;
  let first = 0;
  for (const s of stages) {
    const work = s.seqLen * s.batchSize;
    const doneHere = Math.min(s.steps, Math.max(0, step + 1 - first));
    done += doneHere * work;
    left += (s.steps - doneHere) * work;
    first += s.steps;
  }
  return done > 0 ? (elapsedSec / done) * left : 0;
}

/**
 * Held-out evaluation: passkey samples from the eval split (never trained on), or for file data
 * the loss of the first batches of a differently seeded pass over it.
 */
export async function evaluate(cfg: TrainConfig, replicas: Replicas, layout: Layout, step: number): Promise<EvalResult> {
  const isPasskey = isBuiltinSource(cfg.data, 'passkey');
  const dataset = isPasskey ? null : openDataset([...cfg.data], { seqLen: cfg.seqLen, seed: cfg.seed + 1_000_003 });
  let lossSum = 0;
  let batches = 0;
  let correct = 0;
  let digits = 0;
  let samples = 0;
  for (let done = 0; done < cfg.evalSamples; done += cfg.batchSize) {
    const b = Math.min(cfg.batchSize, cfg.evalSamples - done);
    const batch: Batch = isPasskey
      ? passkeyBatch({ seqLen: cfg.seqLen, ...stagePasskeyOptions(cfg, cfg.stages[cfg.stages.length - 1]), batchSize: b, seed: 0, index: done, split: 'eval' })
      : dataset!.nextBatch(b);
    const r = await replicas.evaluate(layout, { ...batch, batchSize: b }, cfg.model.prevTokenEmbed);
    lossSum += r.loss;
    batches++;
    samples += b;
    if (isPasskey) {
      const acc = passkeyAccuracy(r.predictions, batch as PasskeyBatch);
      correct += acc.correct;
      digits += acc.digitAccuracy * acc.samples;
    }
  }
  const result: EvalResult = { step, loss: lossSum / batches, samples };
  if (isPasskey) {
    result.passkeyAccuracy = correct / samples;
    result.digitAccuracy = digits / samples;
  }
  return result;
}
