import type { Logger } from '@ringtrain/core';
import { STRATEGY_LAYOUTS, stagePasskeyOptions, type ModelConfig, type TrainConfig } from '@ringtrain/config';
import { countTargets, shardTokenBatch } from '@ringtrain/coordinator';
import { openDataset } from '@ringtrain/data';
import { nativeStatus, sgemm } from '@ringtrain/kernels';
import { makeLayout } from '@ringtrain/layout';
import type { JsonObject } from '@ringtrain/protocol';
import { withLocalWorld } from '../check/workers';
import { median } from './stats';

export interface TrainBenchReport {
  tokensPerSec: number;
  modelGflops: number;
  /** The better of the sgemm runs before and after the steps (the machine's peak). */
  sgemmGflops: number | null;
  sgemmGflopsBeforeAfter: [number | null, number | null];
  /** modelGflops / sgemmGflops: a CPU analogue of MFU. */
  ratio: number | null;
  peakRssBytesPerWorker: number[];
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
 * The machine's sgemm GFLOP/s in this process (all cores), or null without the native addon: the
 * fastest of `reps` 2048² products after one untimed one. The best run, not the median, is the
 * machine's reachable peak (the median swings with whatever else runs), so the ratio to it is the
 * conservative one.
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
  // Before and after the steps: on a shared machine one of them can land in a slow spell, and a
  // low reference would flatter the ratio; the better of the two is the machine's peak.
  const sgemmBefore = measureSgemmGflops();
  const layout = makeLayout(STRATEGY_LAYOUTS[cfg.strategy], cfg.seqLen, cfg.workers);
  const data = openDataset([...cfg.data], { seqLen: cfg.seqLen, seed: cfg.seed, passkey: stagePasskeyOptions(cfg, cfg.stages[cfg.stages.length - 1]) });
  const stepMs: number[] = [];
  const peak = new Array<number>(cfg.workers).fill(0);
  await withLocalWorld({ workers: cfg.workers, logger: opts.logger, workerCommand: opts.workerCommand, jobTimeoutMs: 3_600_000 }, async (coordinator) => {
    const none = Array.from({ length: cfg.workers }, () => ({}));
    await coordinator.runJob('train-init', { model: { ...cfg.model } as unknown as JsonObject, optim: { ...cfg.optim } as unknown as JsonObject, seed: cfg.seed, strategy: cfg.strategy }, none);
    for (let i = 0; i < opts.warmup + cfg.steps; i++) {
      const batch = data.nextBatch(cfg.batchSize);
      const t0 = performance.now();
      const results = await coordinator.runJob('train-step', { seqLen: cfg.seqLen, batch: cfg.batchSize, globalTokens: countTargets(batch.targets), hashCheck: false, predictions: false }, shardTokenBatch(layout, batch.inputs, batch.targets, cfg.batchSize, cfg.model.prevTokenEmbed));
      const ms = performance.now() - t0;
      results.forEach((r) => (peak[r.rank] = Math.max(peak[r.rank], Number(r.meta.rssBytes))));
      opts.logger.info(`${i < opts.warmup ? 'warm-up' : 'step'} ${i + 1}: ${ms.toFixed(0)} ms`);
      if (i >= opts.warmup) stepMs.push(ms);
    }
  });
  const sgemmAfter = measureSgemmGflops();
  const sgemmGflops = sgemmBefore === null || sgemmAfter === null ? null : Math.max(sgemmBefore, sgemmAfter);
  opts.logger.info(`sgemm ${sgemmBefore?.toFixed(1) ?? 'n/a'} GFLOP/s before the steps, ${sgemmAfter?.toFixed(1) ?? 'n/a'} after`);
  const sec = median(stepMs) / 1000;
  const flopsPerStep = trainStepFlops(cfg.model, cfg.seqLen, cfg.batchSize);
  const modelGflops = flopsPerStep / sec / 1e9;
  return {
    tokensPerSec: (cfg.seqLen * cfg.batchSize) / sec,
    modelGflops,
    sgemmGflops,
    sgemmGflopsBeforeAfter: [sgemmBefore, sgemmAfter],
    ratio: sgemmGflops ? modelGflops / sgemmGflops : null,
    peakRssBytesPerWorker: peak,
    stepMs,
    flopsPerStep,
    config: { workers: cfg.workers, strategy: cfg.strategy, seqLen: cfg.seqLen, batchSize: cfg.batchSize, model: cfg.model, backend: cfg.backend },
  };
}
