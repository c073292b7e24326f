import { Counter, Gauge, Registry } from 'prom-client';
import { RingtrainError } from '@ringtrain/core';

/** One worker as the run's worker table (`RUN/workers.json`) has it. */
export interface WorkerSnapshot {
  rank: number;
  host: string;
  /** `ready` and `busy` count as up; `lost`, `rejoining`, `done` as down. */
  state: string;
  rssBytes?: number;
}

/**
 * What the run looks like now. Field names follow `StepMetrics` (metrics.jsonl) and the worker
 * table, so a step's metrics can be spread into it; a value not known yet is left out and its
 * series is absent from the scrape rather than reported as 0.
 */
export interface RunSnapshot {
  step: number;
  loss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSec?: number;
  stepMs?: number;
  /** Latest held-out evaluation loss. */
  evalLoss?: number;
  /** Latest task accuracy (passkey), 0..1. */
  taskAccuracy?: number;
  /** Checkpoints committed by this run so far, resumed sessions included. */
  checkpoints: number;
  /** Sessions restarted after a failure so far. */
  restarts: number;
  workers: readonly WorkerSnapshot[];
}

const UP_STATES: ReadonlySet<string> = new Set(['ready', 'busy']);

/**
 * The run as Prometheus metrics: a prom-client `Registry` with the `ringtrain_*` series, set
 * from the latest {@link RunSnapshot}. `text()` and `contentType` are what a `/metrics` handler
 * sends.
 */
export class RunMetrics {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  private readonly scalars: { key: ScalarKey; gauge: Gauge; scale: number }[] = [
    { key: 'step', gauge: this.gauge('ringtrain_step', 'Optimizer steps done.'), scale: 1 },
    { key: 'loss', gauge: this.gauge('ringtrain_loss', 'Training loss of the last step.'), scale: 1 },
    { key: 'lr', gauge: this.gauge('ringtrain_learning_rate', 'Learning rate of the last step.'), scale: 1 },
    { key: 'gradNorm', gauge: this.gauge('ringtrain_grad_norm', 'Global gradient norm of the last step, before clipping.'), scale: 1 },
    { key: 'tokensPerSec', gauge: this.gauge('ringtrain_tokens_per_second', 'Training tokens per second of the last step.'), scale: 1 },
    { key: 'stepMs', gauge: this.gauge('ringtrain_step_seconds', 'Wall time of the last step, in seconds.'), scale: 1e-3 },
    { key: 'evalLoss', gauge: this.gauge('ringtrain_eval_loss', 'Loss per token of the latest held-out evaluation.'), scale: 1 },
    { key: 'taskAccuracy', gauge: this.gauge('ringtrain_task_accuracy', 'Latest task (passkey) accuracy, 0 to 1.'), scale: 1 },
  ];
  private readonly rss = this.gauge('ringtrain_worker_rss_bytes', 'Resident memory of each worker process.', ['rank', 'host']);
  private readonly up = this.gauge('ringtrain_worker_up', 'Whether each worker is up (ready or busy): 1, or 0.', ['rank']);
  private readonly totals: { key: 'checkpoints' | 'restarts'; counter: Counter; last: number }[] = [
    { key: 'checkpoints', counter: this.counter('ringtrain_checkpoints_total', 'Checkpoints committed.'), last: 0 },
    { key: 'restarts', counter: this.counter('ringtrain_restarts_total', 'Sessions restarted after a failure.'), last: 0 },
  ];

  constructor() {
    for (const { gauge } of this.scalars) gauge.remove();
  }

  /** Replaces every series with what `snapshot` says; workers missing from it are dropped. */
  update(snapshot: RunSnapshot): void {
    checkSnapshot(snapshot);
    for (const { key, gauge, scale } of this.scalars) {
      const value = snapshot[key];
      if (value === undefined) gauge.remove();
      else gauge.set(value * scale);
    }
    this.rss.reset();
    this.up.reset();
    for (const w of snapshot.workers) {
      const rank = String(w.rank);
      this.up.set({ rank }, UP_STATES.has(w.state) ? 1 : 0);
      if (w.rssBytes !== undefined) this.rss.set({ rank, host: w.host }, w.rssBytes);
    }
    for (const total of this.totals) {
      const value = snapshot[total.key];
      // A total below the last one means a new count (a fresh run): Prometheus reads a drop as a reset.
      if (value < total.last) total.counter.reset();
      total.counter.inc(value < total.last ? value : value - total.last);
      total.last = value;
    }
  }

  /** The exposition text of every series. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }
}

type ScalarKey = 'step' | 'loss' | 'lr' | 'gradNorm' | 'tokensPerSec' | 'stepMs' | 'evalLoss' | 'taskAccuracy';

function checkSnapshot(s: RunSnapshot): void {
  const bad = (field: string, value: unknown, expected: string): RingtrainError =>
    new RingtrainError('TELEMETRY_BAD_SNAPSHOT', `Run snapshot field ${field} = ${JSON.stringify(value)} is not ${expected}.`, {
      hint: 'Build the snapshot from StepMetrics and the worker table.',
      details: { field, value },
    });
  for (const key of ['step', 'checkpoints', 'restarts'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0) throw bad(key, s[key], 'a whole number ≥ 0');
  }
  for (const key of ['loss', 'lr', 'gradNorm', 'tokensPerSec', 'stepMs', 'evalLoss', 'taskAccuracy'] as const) {
    if (s[key] !== undefined && typeof s[key] !== 'number') throw bad(key, s[key], 'a number');
  }
  const ranks = new Set<number>();
  for (const w of s.workers) {
    if (!Number.isSafeInteger(w.rank) || w.rank < 0 || ranks.has(w.rank)) throw bad('workers[].rank', w.rank, 'a distinct whole number ≥ 0');
    ranks.add(w.rank);
    if (w.rssBytes !== undefined && (typeof w.rssBytes !== 'number' || w.rssBytes < 0)) throw bad('workers[].rssBytes', w.rssBytes, 'a byte count');
  }
}
