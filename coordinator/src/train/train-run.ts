import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RingtrainError, type Logger } from '@ringtrain/core';
import { strategyLayout, stageDocMask, type TrainConfig } from '@ringtrain/config';
import { isBuiltinSource, passkeyAccuracy, type Dataset, type PasskeyBatch } from '@ringtrain/data';
import type { Coordinator } from '../coordinator';
import { Replicas } from '../world/replicas';
import { CheckpointSaver, type CheckpointRecord, type Progress } from '../checkpoint/saver';
import { checkSameModel } from '../checkpoint/manifest';
import type { LoadedCheckpoint } from '../checkpoint/store';
import { saveModel } from './save-model';
import { TraceLog } from './trace-log';
import { checkEvalSamples, evaluate, modelBatch, openRunData, stageSeed, type EvalResult } from './evaluate';

/**
 * One line of metrics.jsonl. Steps count the same way everywhere (metrics.jsonl, the progress
 * line, eval.jsonl, checkpoints, events): step n is the state after n optimizer steps, so the
 * first training step is step 1 and an evaluation after a 100-step run is step 100.
 */
export interface StepMetrics {
  /** Optimizer steps done once this step was applied (1 for the first). */
  step: number;
  /** When the step ended (ISO 8601): the dashboard's wall-time axis. */
  time: string;
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
  /** The longest any worker's event loop was blocked in this step: heartbeats wait at least this long. */
  maxBlockMs: number;
  /** When a checkpoint was taken after this step: how long training was held for it. */
  checkpointHeldMs?: number;
}

export type TrainEvent =
  | { event: 'step'; metrics: StepMetrics; steps: number; etaSec: number; rssBytes: number[] }
  | { event: 'eval'; result: EvalResult }
  | { event: 'checkpoint'; record: CheckpointRecord }
  | { event: 'notice'; message: string }
  | { event: 'resumed'; step: number; from: string; workersWere: number; strategyWas: string }
  | { event: 'stopped'; step: number; reason: string; checkpoint: string | null }
  | { event: 'done'; summary: TrainSummary };

export interface TrainSummary {
  runDir: string;
  steps: number;
  finalLoss: number;
  firstLoss: number;
  eval: EvalResult | null;
  wallSec: number;
  /** The run stopped early (a signal) after saving a checkpoint. */
  stopped: boolean;
}

/** Asks a running training loop to stop, or to checkpoint, after its current step. */
export interface TrainControl {
  /** Why to stop (a signal, the parent gone); null while training should go on. */
  stopRequested: string | null;
  /** Take a checkpoint after the current step (on demand). */
  checkpointRequested: boolean;
}

export function newTrainControl(): TrainControl {
  return { stopRequested: null, checkpointRequested: false };
}

/**
 * The coordinator's training loop: shard each batch by the strategy's layout, run the step on
 * every rank, aggregate loss and timings, check replicas stay identical, write metrics.jsonl,
 * checkpoint as configured (and when asked to stop), and evaluate on held-out data. With
 * `resume`, the replicas, the optimizer, the data streams and the counters continue from the
 * checkpoint, so the run goes on as if it had never stopped.
 */
export async function runTraining(
  cfg: TrainConfig,
  coordinator: Coordinator,
  logger: Logger,
  onEvent: (e: TrainEvent) => void,
  opts: { resume?: LoadedCheckpoint | null; control?: TrainControl } = {},
): Promise<TrainSummary> {
  const control = opts.control ?? newTrainControl();
  const resume = opts.resume ?? null;
  mkdirSync(cfg.runDir, { recursive: true });
  const layout = strategyLayout(cfg, cfg.seqLen, cfg.workers);
  // The main stage reads the data as a run without warmup would; warmup stages get their own seeds.
  const stagePlan = cfg.stages.map((stage, i) => ({
    ...stage,
    layout: i === cfg.stages.length - 1 ? layout : strategyLayout(cfg, stage.seqLen, cfg.workers),
    seed: stageSeed(cfg, i),
  }));
  // Every stage's data and the held-out data are opened before any work starts, so a stage the
  // data cannot fill, or a held-out part smaller than --eval-samples, fails first.
  const { datasets, eval: evalSource } = openRunData(cfg, logger);
  if (evalSource) checkEvalSamples(evalSource, cfg.evalSamples, '--eval-samples');
  else onEvent({ event: 'notice', message: `no held-out data: ${cfg.data.join(',')} holds a single document, which training reads; evaluation is skipped (name held-out files with --val-data)` });

  const replicas = new Replicas(coordinator);
  await replicas.init(cfg);
  const total = cfg.totalSteps;
  let step = 0;
  let firstLoss = NaN;
  let lastLoss = NaN;
  let peakRss = 0;
  let trainSecBefore = 0;
  if (resume) {
    step = await restoreCheckpoint(cfg, replicas, stagePlan, datasets, resume);
    ({ firstLoss, lastLoss, peakRssBytes: peakRss, trainSec: trainSecBefore } = resume.manifest.metrics);
    const m = resume.manifest;
    logger.info(`resumed from ${resume.dir} at step ${step}${m.worldSize !== cfg.workers || m.strategy !== cfg.strategy ? ` (saved by ${m.worldSize} ${m.strategy} workers; now ${cfg.workers} ${cfg.strategy})` : ''}`);
    onEvent({ event: 'resumed', step, from: resume.dir, workersWere: m.worldSize, strategyWas: m.strategy });
  }
  const metricsFile = join(cfg.runDir, 'metrics.jsonl');
  const evalFile = join(cfg.runDir, 'eval.jsonl');
  keepRecordsUpTo(metricsFile, step);
  keepRecordsUpTo(evalFile, step);
  // Timelines of every traceEvery-th step (the first step, warming up, is not typical); none with 0.
  const traceLog = cfg.traceEvery > 0 ? new TraceLog(cfg.runDir, step) : null;
  const runEval = async (done: number): Promise<EvalResult | null> => {
    if (!evalSource) return null;
    const documents = { docMask: stageDocMask(cfg, cfg.stages[cfg.stages.length - 1]), positions: cfg.positions };
    const result = await evaluate(replicas, layout, evalSource, { step: done, samples: cfg.evalSamples, batchSize: cfg.batchSize, prevLags: cfg.model.prevTokenEmbed, documents });
    onEvent({ event: 'eval', result });
    appendFileSync(evalFile, JSON.stringify(result) + '\n');
    return result;
  };

  const start = performance.now();
  const startStep = step; // a resumed run's elapsed time covers only the steps since it resumed
  const trainSec = () => trainSecBefore + (performance.now() - start) / 1000;
  const saver = new CheckpointSaver(cfg, replicas, logger, (r) => onEvent({ event: 'checkpoint', record: r }), (message) => onEvent({ event: 'notice', message }));
  if (resume) saver.lastStep = step; // that step's checkpoint is the one just loaded
  const progress = (done: number): Progress => {
    const at = stageAt(stagePlan, done);
    return { step: done, ...at, data: datasets.map((d) => d.cursor()), metrics: { firstLoss, lastLoss, peakRssBytes: peakRss, trainSec: trainSec() } };
  };
  try {
    let evalResult: EvalResult | null = null;
    let stopped: string | null = null;
    let warnedBlock = false;
    for (const [i, stage] of stagePlan.entries()) {
      const dataset = datasets[i];
      const isPasskey = isBuiltinSource(stage.data, 'passkey');
      const documents = { docMask: stageDocMask(cfg, stage), positions: cfg.positions };
      const first = stageAt(stagePlan, step);
      if (stopped) break;
      if (first.stage > i) continue;
      if (stagePlan.length > 1) logger.info(`stage: ${stage.data.join(',')} at seqLen ${stage.seqLen} × batch ${stage.batchSize} for ${stage.steps} steps`);
      for (let stageStep = first.stageStep; stageStep < stage.steps && !stopped; stageStep++, step++) {
        const t0 = performance.now();
        const batch = dataset.nextBatch(stage.batchSize);
        const hashCheck = (step + 1) % cfg.hashCheckEvery === 0 || step === total - 1;
        const trace = traceLog !== null && (step + 1) % cfg.traceEvery === 0;
        const r = await replicas.step(stage.layout, modelBatch(batch, documents), cfg.model.prevTokenEmbed, { hashCheck, predictions: isPasskey, grads: false, trace }, `step ${step + 1}`);
        const stepMs = performance.now() - t0;
        if (r.traces) traceLog?.add(step + 1, performance.timeOrigin + t0, stepMs, r.traces, coordinator.workers);
        if (!Number.isFinite(r.loss)) {
          throw new RingtrainError('LOSS_NOT_FINITE', `the loss became ${r.loss} at step ${step + 1}`, { hint: 'lower --lr, or check the data' });
        }
        if (step === 0) firstLoss = r.loss;
        lastLoss = r.loss;
        peakRss = Math.max(peakRss, ...r.rssBytes);
        const metrics: StepMetrics = {
          step: step + 1, time: new Date().toISOString(), loss: r.loss, lr: r.lr, gradNorm: r.gradNorm,
          tokens: stage.batchSize * stage.seqLen,
          tokensPerSec: (stage.batchSize * stage.seqLen) / (stepMs / 1000),
          stepMs,
          computeMs: r.computeMs,
          attentionMs: r.attentionMs,
          commMs: r.commMs,
          allReduceMs: r.allReduceMs,
          optimizerMs: r.optimizerMs,
          peakRssBytes: Math.max(...r.rssBytes),
          maxBlockMs: r.maxBlockMs,
        };
        if (isPasskey && r.predictions) metrics.taskAccuracy = passkeyAccuracy(r.predictions, batch as PasskeyBatch).accuracy;
        if (!warnedBlock && r.maxBlockMs > cfg.heartbeatTimeoutMs / 3) {
          warnedBlock = true;
          onEvent({ event: 'notice', message: `a worker's event loop was blocked for ${Math.round(r.maxBlockMs)} ms in step ${step + 1}, over a third of --heartbeat-timeout-ms ${cfg.heartbeatTimeoutMs}: raise it, or a busy worker may be taken for a hung one` });
        }
        // A stop request is honoured after the step in flight: save, then leave.
        stopped = control.stopRequested;
        const last = step === total - 1;
        if (stopped || (!last && (saver.due(step + 1) || control.checkpointRequested))) {
          const reason = stopped ? `stop: ${stopped}` : control.checkpointRequested ? 'requested' : 'scheduled';
          control.checkpointRequested = false;
          metrics.checkpointHeldMs = await saver.save(progress(step + 1), reason);
        }
        appendFileSync(metricsFile, JSON.stringify(metrics) + '\n');
        onEvent({ event: 'step', metrics, steps: total, etaSec: etaSec(stagePlan, startStep, step, (performance.now() - start) / 1000), rssBytes: r.rssBytes });
        const evalNow = cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0 && !last && !stopped;
        if (evalNow) evalResult = await runEval(step + 1);
      }
    }
    if (stopped) {
      const dir = await saver.flush();
      onEvent({ event: 'stopped', step, reason: stopped, checkpoint: dir });
      logger.info(`stopped after step ${step} (${stopped}); checkpoint ${dir}`);
      return { runDir: cfg.runDir, steps: step, firstLoss, finalLoss: lastLoss, eval: null, wallSec: trainSec(), stopped: true };
    }
    // The end of the run is a checkpoint too: `--resume` with more steps continues from it.
    if (saver.lastStep !== step && step > 0) await saver.save(progress(step), 'end');
    await saveModel(cfg.runDir, replicas, { model: cfg.model, steps: total });
    evalResult = await runEval(total);
    await saver.flush();
    const summary: TrainSummary = { runDir: cfg.runDir, steps: total, firstLoss, finalLoss: lastLoss, eval: evalResult, wallSec: trainSec(), stopped: false };
    writeFileSync(join(cfg.runDir, 'summary.json'), JSON.stringify({ ...summary, peakRssBytesPerWorker: peakRss }, null, 2) + '\n');
    onEvent({ event: 'done', summary });
    logger.info(`trained ${total} steps: loss ${firstLoss.toFixed(3)} -> ${lastLoss.toFixed(3)}`);
    return summary;
  } catch (err) {
    // A failing run still lets the save in flight finish (or fail and clean up): no half-written checkpoint is left behind.
    await saver.settle();
    throw err;
  }
}

/** The stage of step `done` (0-based) and how many of that stage's steps come before it; past the end: the last stage, complete. */
function stageAt(stages: ReadonlyArray<{ steps: number }>, done: number): { stage: number; stageStep: number } {
  let first = 0;
  for (const [i, s] of stages.entries()) {
    if (done < first + s.steps) return { stage: i, stageStep: done - first };
    first += s.steps;
  }
  return { stage: stages.length - 1, stageStep: stages[stages.length - 1].steps };
}

/**
 * metrics.jsonl and eval.jsonl of a resumed run keep the records up to the checkpoint's step (a
 * stopped session may have logged a few more, which the resumed run logs again).
 */
function keepRecordsUpTo(file: string, step: number): void {
  if (step === 0 || !existsSync(file)) {
    writeFileSync(file, '');
    return;
  }
  const kept = readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      const record: unknown = JSON.parse(line);
      return typeof record === 'object' && record !== null && 'step' in record && typeof record.step === 'number' && record.step <= step;
    } catch {
      return false;
    }
  });
  writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

/**
 * Loads a checkpoint into the replicas and the data streams; returns the step to go on from.
 * The model must be the one the checkpoint holds; the world size and strategy may differ (the
 * state is replicated, and the data streams are global, cut into shards only afterwards).
 */
async function restoreCheckpoint(cfg: TrainConfig, replicas: Replicas, stages: ReadonlyArray<{ steps: number }>, datasets: Dataset[], ckpt: LoadedCheckpoint): Promise<number> {
  const m = ckpt.manifest;
  checkSameModel(m, cfg.model, ckpt.dir);
  if (cfg.totalSteps < m.step) {
    throw new RingtrainError('CHECKPOINT_MISMATCH', `${ckpt.dir} is after step ${m.step}, past this config's ${cfg.totalSteps} steps`, { hint: `resume with --steps large enough for ${m.step} steps in all` });
  }
  const at = stageAt(stages, m.step);
  if (m.data.length !== datasets.length || at.stage !== m.stage || at.stageStep !== m.stageStep) {
    throw new RingtrainError('CHECKPOINT_MISMATCH', `${ckpt.dir} was saved in stage ${m.stage} (step ${m.stageStep} of it) of ${m.data.length} stages; with this config step ${m.step} falls in stage ${at.stage} (step ${at.stageStep}) of ${datasets.length}`, {
      hint: 'resume with the same seqLenWarmup stages (only the main stage\'s steps may grow)',
    });
  }
  const hash = await replicas.setState(new Map([...ckpt.params, ...ckpt.optimizer]), m.optimizerStep);
  if (hash !== m.paramHash) {
    throw new RingtrainError('CHECKPOINT_MISMATCH', `the parameters loaded from ${ckpt.dir} hash to ${hash.slice(0, 12)}, the manifest says ${m.paramHash.slice(0, 12)}`, { hint: 'the checkpoint is damaged; resume from an older one' });
  }
  m.data.forEach((cursor, i) => datasets[i].restore(cursor));
  return m.step;
}

/**
 * Time left, with the remaining steps of each stage weighted by its tokens (short stages are
 * cheap). The rate comes from the steps run since `startStep` (where this session began or
 * resumed) in `elapsedSec`; steps before it were timed by an earlier session.
 */
export function etaSec(stages: ReadonlyArray<{ seqLen: number; batchSize: number; steps: number }>, startStep: number, step: number, elapsedSec: number): number {
  let timed = 0;
  let left = 0;
  let first = 0;
  const stepsIn = (from: number, to: number, s: { steps: number }) => Math.max(0, Math.min(first + s.steps, to) - Math.max(first, from));
  for (const s of stages) {
    const work = s.seqLen * s.batchSize;
    timed += stepsIn(startStep, step + 1, s) * work;
    left += stepsIn(step + 1, Infinity, s) * work;
    first += s.steps;
  }
  return timed > 0 ? (elapsedSec / timed) * left : 0;
}
