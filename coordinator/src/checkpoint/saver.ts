import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { RingtrainError, type Logger } from '@ringtrain/core';
import { STRATEGY_LAYOUTS, type TrainConfig } from '@ringtrain/config';
import type { DataCursor } from '@ringtrain/data';
import { ADAM_M, ADAM_V, type Bulk } from '@ringtrain/protocol';
import type { Replicas } from '../world/replicas';
import type { MetricsSoFar } from './manifest';
import { pruneCheckpoints, writeCheckpoint } from './store';

/** Where training stands when a checkpoint is taken. */
export interface Progress {
  /** Optimizer steps done. */
  step: number;
  /** The stage of the next step, and how many of its steps are done. */
  stage: number;
  stageStep: number;
  data: DataCursor[];
  metrics: MetricsSoFar;
}

/** One line of checkpoints.jsonl. */
export interface CheckpointRecord {
  step: number;
  dir: string;
  bytes: number;
  /** How long training was held while the state was copied out of the workers. */
  heldMs: number;
  /** How long writing took, while training went on. */
  writeMs: number;
  reason: string;
  time: string;
  /** The coordinator's resident set after the save: flat across many saves, or a save leaks. */
  rssBytes: number;
}

/**
 * Takes checkpoints while training goes on: the step is held only while the state streams out
 * of rank 0 (get-state); the files are written in the background. One write is in flight at a
 * time (a slow disk holds the next save, never piles up copies of the state in memory).
 */
export class CheckpointSaver {
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private lastAt = performance.now();
  private lastDir: string | null = null;
  lastStep = -1;

  constructor(
    private readonly cfg: TrainConfig,
    private readonly replicas: Replicas,
    private readonly logger: Logger,
    private readonly onSaved: (r: CheckpointRecord) => void,
    /** Told at once when a save fails (training goes on; the end of the run reports it as an error). */
    private readonly onFailed: (message: string) => void,
  ) {}

  /** Whether a save is due after `stepsDone` steps (by step count or by time). */
  due(stepsDone: number): boolean {
    const byStep = this.cfg.checkpointEvery > 0 && stepsDone % this.cfg.checkpointEvery === 0;
    const byTime = this.cfg.checkpointEveryMinutes > 0 && performance.now() - this.lastAt >= this.cfg.checkpointEveryMinutes * 60_000;
    return byStep || byTime;
  }

  /** Copies the state out (holding training) and starts writing it; returns the held milliseconds. */
  async save(progress: Progress, reason: string): Promise<number> {
    await this.writing;
    const t0 = performance.now();
    const { state, hash, optimizerStep } = await this.replicas.getState(true);
    const heldMs = performance.now() - t0;
    this.lastAt = performance.now();
    this.lastStep = progress.step;
    const params: Bulk = new Map();
    const optimizer: Bulk = new Map();
    for (const [name, t] of state) (name.startsWith(ADAM_M) || name.startsWith(ADAM_V) ? optimizer : params).set(name, t);
    const cfg = this.cfg;
    const manifest = {
      ...progress,
      totalSteps: cfg.totalSteps,
      worldSize: cfg.workers,
      strategy: cfg.strategy,
      ...(cfg.ulyssesDegree !== undefined ? { ulyssesDegree: cfg.ulyssesDegree } : {}),
      layout: cfg.ringLayout ?? STRATEGY_LAYOUTS[cfg.strategy],
      model: cfg.model,
      optim: cfg.optim,
      optimizerStep,
      paramHash: hash,
      rng: { seed: cfg.seed },
    };
    const started = performance.now();
    this.writing = writeCheckpoint(cfg.runDir, { manifest, params, optimizer })
      .then(async ({ dir, bytes }) => {
        const record: CheckpointRecord = { step: progress.step, dir, bytes, heldMs, writeMs: performance.now() - started, reason, time: new Date().toISOString(), rssBytes: process.memoryUsage().rss };
        this.lastDir = dir;
        appendFileSync(join(cfg.runDir, 'checkpoints.jsonl'), JSON.stringify(record) + '\n');
        for (const old of await pruneCheckpoints(cfg.runDir, cfg.keepLast)) this.logger.info(`removed checkpoint ${old} (--keep-last ${cfg.keepLast})`);
        this.onSaved(record);
      })
      // Whatever failed — the write, the record, the pruning — is kept and reported, never left unhandled.
      .catch((err: Error) => {
        this.failure = err instanceof RingtrainError ? err : new RingtrainError('CHECKPOINT_WRITE_FAILED', `after the checkpoint of step ${progress.step}: ${err.message}`, { hint: 'check the run directory\'s disk and permissions' });
        this.logger.error(`checkpoint after step ${progress.step} failed: ${err.message}`);
        this.onFailed(`checkpoint after step ${progress.step} failed: ${err.message}`);
      });
    return heldMs;
  }

  /** Waits for the write in flight to finish or fail (and clean up), whatever else went wrong. */
  async settle(): Promise<void> {
    await this.writing;
  }

  /** Waits for the write in flight; throws if any save failed. Returns the newest checkpoint's directory. */
  async flush(): Promise<string | null> {
    await this.writing;
    if (this.failure) {
      const e = this.failure;
      throw e instanceof RingtrainError ? e : new RingtrainError('CHECKPOINT_WRITE_FAILED', e.message);
    }
    return this.lastDir;
  }
}
