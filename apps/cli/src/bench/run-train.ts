import type { Logger } from '@ringtrain/core';
import { strategyLayout, stagePasskeyOptions, type ModelConfig, type TrainConfig } from '@ringtrain/config';
import { withLocalWorld, type WorkerSummary } from '@ringtrain/coordinator';
import { openDataset } from '@ringtrain/data';
import { nativeStatus, sgemm } from '@ringtrain/kernels';
import { median } from './stats';

export interface TrainBenchReport {
  tokensPerSec: number;
  modelGflops: number;
  /** Median over timed steps of the better sgemm on either side of the step (the references the ratio uses). */
  sgemmGflops: number | null;
  /** sgemm right before each timed step (the workers idle), then once after the last. */
  sgemmGflopsPerStep: number[];
  sgemmGflopsAfter: number | null;
  /**
   * A CPU analogue of MFU: the median over timed steps of (that step's model GFLOP/s ÷ the better
   * of the sgemm runs just before and just after it), so a drift in the shared host's speed meets
   * both sides of each ratio.
   */
  ratio: number | null;
  /** modelGflops ÷ the best sgemm of the whole run: the most pessimistic reading. */
  ratioVsBestSgemm: number | null;
  peakRssBytesPerWorker: number[];
  /** Each rank's backend and device (the GPU adapter under webgpu), as it reported them. */
  workers: WorkerSummary[];
  stepMs: number[];
  flopsPerStep: number;
  config: { workers: number; strategy: string; seqLen: number; batchSize: number; model: ModelConfig; backend: string };
}

/**
 * Model FLOPs of one training step: 3 × forward (backward ≈ 2 × forward); forward = 2 FLOPs per
 * multiply-add of every weight matmul per token (LM head included, the embedding gather is
 * free) + causal attention 2 · 2 · S² / 2 · H · Dh per layer and sequence. Recomputation is not
 * counted (model FLOPs, as in MFU).
 */
export function trainStepFlops(m: ModelConfig, seqLen: number, batch: number): number {
  const tokens = seqLen * batch;
  const qkv = m.dModel * (m.heads + 2 * m.kvHeads) * m.headDim;
  const perLayer = qkv + m.heads * m.headDim * m.dModel + 2 * m.dModel * m.mlpRatio * m.dModel;
  const matmul = 2 * tokens * (m.layers * perLayer + m.vocabSize * m.dModel);
  const attention = m.layers * batch * 2 * seqLen * seqLen * m.heads * m.headDim; // 4·S²·H·Dh / 2 (causal)
  return 3 * (matmul + attention);
}

/**
 * One sgemm reference between two steps (best of 4), then a pause: OpenBLAS's threads keep
 * polling for a moment after a call, which would take CPU from the step that follows.
 */
async function sgemmBetweenSteps(): Promise<number | null> {
  const g = measureSgemmGflops(2048, 4);
  await new Promise((resolve) => setTimeout(resolve, 250));
  return g;
}

/**
 * The machine's sgemm GFLOP/s in this process (all cores), or null without the native addon: the
 * fastest of `reps` n³ products after one untimed one. The best run, not the median, is the
 * machine's reachable peak at that moment (the median swings with whatever else runs).
 */
export function measureSgemmGflops(n = 2048, reps = 7): number | null {
  if (!nativeStatus().loaded) return null;
  const A = new Float32Array(n * n).fill(0.5);
  const B = new Float32Array(n * n).fill(0.25);
  const C = new Float32Array(n * n);
  sgemm({ M: n, N: n, K: n, A, B, C });
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    sgemm({ M: n, N: n, K: n, A, B, C });
    times.push(performance.now() - t0);
  }
  return (2 * n * n * n) / (Math.min(...times) / 1000) / 1e9;
}

export async function runTrainBench(cfg: TrainConfig, opts: { warmup: number; logger: Logger; workerCommand: readonly string[] }): Promise<TrainBenchReport> {
  const layout = strategyLayout(cfg, cfg.seqLen, cfg.workers);
  const data = openDataset([...cfg.data], { seqLen: cfg.seqLen, seed: cfg.seed, passkey: stagePasskeyOptions(cfg, cfg.stages[cfg.stages.length - 1]) });
  const stepMs: number[] = [];
  // On a shared host the speed drifts by tens of percent within minutes: each timed step is paired
  // with an sgemm taken just before it (the workers idle between steps), not with one far away.
  const sgemmPerStep: number[] = [];
  let sgemmAfter: number | null = null;
  const peak = new Array<number>(cfg.workers).fill(0);
  let workers: WorkerSummary[] = [];
  await withLocalWorld({ workers: cfg.workers, logger: opts.logger, workerCommand: opts.workerCommand, jobTimeoutMs: 3_600_000 }, async ({ coordinator, replicas }) => {
    workers = coordinator.workers;
    await replicas.init(cfg);
    for (let i = 0; i < opts.warmup + cfg.steps; i++) {
      const batch = data.nextBatch(cfg.batchSize);
      const sgemmNow = i >= opts.warmup ? await sgemmBetweenSteps() : null;
      const t0 = performance.now();
      const r = await replicas.step(layout, { ...batch, batchSize: cfg.batchSize }, cfg.model.prevTokenEmbed, { hashCheck: false, predictions: false, grads: false });
      const ms = performance.now() - t0;
      r.rssBytes.forEach((bytes, rank) => (peak[rank] = Math.max(peak[rank], bytes)));
      opts.logger.info(`${i < opts.warmup ? 'warm-up' : 'step'} ${i + 1}: ${ms.toFixed(0)} ms`);
      if (i >= opts.warmup) {
        stepMs.push(ms);
        if (sgemmNow !== null) sgemmPerStep.push(sgemmNow);
      }
    }
    sgemmAfter = await sgemmBetweenSteps();
  });
  const flopsPerStep = trainStepFlops(cfg.model, cfg.seqLen, cfg.batchSize);
  const gflopsOf = (ms: number) => flopsPerStep / (ms / 1000) / 1e9;
  const after = sgemmAfter as number | null; // set inside the world's callback
  const paired = sgemmPerStep.length === stepMs.length && sgemmPerStep.length > 0 && after !== null;
  // The sgemm runs on either side of step i are sgemmPerStep[i] and the next one (for the last
  // step, the one taken after it); the better of the two is the machine at that time, so a brief
  // dip in one measurement cannot flatter the step.
  const around = paired ? sgemmPerStep.map((g, i) => Math.max(g, i + 1 < sgemmPerStep.length ? sgemmPerStep[i + 1] : after!)) : [];
  const sgemmGflops = paired ? median(around) : null;
  const ratio = paired ? median(stepMs.map((ms, i) => gflopsOf(ms) / around[i])) : null;
  const sec = median(stepMs) / 1000;
  const modelGflops = gflopsOf(median(stepMs));
  const best = paired ? Math.max(...sgemmPerStep, after!) : null;
  opts.logger.info(`sgemm before each step: ${sgemmPerStep.map((g) => g.toFixed(0)).join(', ') || 'n/a'} GFLOP/s; after the last: ${after?.toFixed(0) ?? 'n/a'}`);
  return {
    tokensPerSec: (cfg.seqLen * cfg.batchSize) / sec,
    modelGflops,
    sgemmGflops,
    sgemmGflopsPerStep: sgemmPerStep,
    sgemmGflopsAfter: after,
    ratio,
    ratioVsBestSgemm: best ? modelGflops / best : null,
    peakRssBytesPerWorker: peak,
    workers,
    stepMs,
    flopsPerStep,
    config: { workers: cfg.workers, strategy: cfg.strategy, seqLen: cfg.seqLen, batchSize: cfg.batchSize, model: cfg.model, backend: cfg.backend },
  };
}
