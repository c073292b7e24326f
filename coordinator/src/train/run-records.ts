import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerSummary } from '../coordinator';
import type { TrainEvent } from './train-run';

/** One row of workers.json: what the dashboard's worker table shows. */
export interface WorkerRecord {
  rank: number;
  host: string;
  pid: number;
  backend: string;
  device: string;
  state: 'starting' | 'ready' | 'lost' | 'rejoining' | 'done' | 'stopped';
  rssBytes: number | null;
  tokensPerSec: number | null;
  /** When the coordinator last heard from it (a step's result, its registration). */
  lastSeen: string;
  /** Times the world was re-formed (or the worker group restarted) in this run. */
  restarts: number;
}

/** One line of events.jsonl. */
export interface RunEventRecord {
  time: string;
  kind: string;
  step?: number;
  message: string;
}

/**
 * What a run is doing, for people watching it: `events.jsonl` (the run's story: start, world,
 * resumes, checkpoints, evaluations, notices, restarts, failures, stops) and `workers.json` (the
 * worker table, rewritten whole and renamed into place so a reader never sees half of it). The
 * coordinator process feeds it every event it emits; the dashboard reads the files.
 */
export class RunRecords {
  private workers: WorkerRecord[] = [];
  private restarts: number;

  constructor(private readonly runDir: string) {
    this.restarts = countRestarts(join(runDir, 'restarts.jsonl'));
  }

  /** Something happened that is not a step: appended to events.jsonl. */
  event(kind: string, message: string, step?: number): void {
    const record: RunEventRecord = { time: new Date().toISOString(), kind, ...(step === undefined ? {} : { step }), message };
    appendFileSync(join(this.runDir, 'events.jsonl'), JSON.stringify(record) + '\n');
  }

  /** The world formed: one row per rank. */
  world(workers: readonly WorkerSummary[]): void {
    const now = new Date().toISOString();
    this.workers = workers.map((w) => ({ ...w, state: 'ready', rssBytes: null, tokensPerSec: null, lastSeen: now, restarts: this.restarts }));
    this.writeWorkers();
  }

  /** The world broke: the lost rank (when known) and the others, which are asked to register again. */
  broke(lostRank: number | null, reason: string): void {
    this.restarts++;
    this.event('restart', reason);
    this.workers = this.workers.map((w) => ({ ...w, state: w.rank === lostRank ? 'lost' : 'rejoining', restarts: this.restarts }));
    this.writeWorkers();
  }

  /** Every event the training loop emits. */
  train(e: TrainEvent): void {
    switch (e.event) {
      case 'step': {
        const now = new Date().toISOString();
        const perRank = e.metrics.tokensPerSec / Math.max(1, this.workers.length);
        this.workers = this.workers.map((w) => ({ ...w, state: 'ready', rssBytes: e.rssBytes[w.rank] ?? w.rssBytes, tokensPerSec: perRank, lastSeen: now }));
        this.writeWorkers();
        return;
      }
      case 'eval':
        this.event('eval', `held-out loss ${e.result.loss.toFixed(4)}${e.result.passkeyAccuracy === undefined ? '' : `, passkey accuracy ${(e.result.passkeyAccuracy * 100).toFixed(1)}%`}`, e.result.step);
        return;
      case 'checkpoint':
        this.event('checkpoint', `saved ${e.record.dir} (${e.record.reason}; training held ${e.record.heldMs.toFixed(0)} ms)`, e.record.step);
        return;
      case 'notice':
        this.event('notice', e.message);
        return;
      case 'resumed':
        this.event('resumed', `resumed from ${e.from}`, e.step);
        return;
      case 'stopped':
        this.event('stopped', `stopped (${e.reason})${e.checkpoint ? `; checkpoint ${e.checkpoint}` : ''}`, e.step);
        this.finish('stopped');
        return;
      case 'done':
        this.event('done', `trained ${e.summary.steps} steps: loss ${e.summary.firstLoss.toFixed(3)} → ${e.summary.finalLoss.toFixed(3)}`, e.summary.steps);
        this.finish('done');
        return;
    }
  }

  private finish(state: WorkerRecord['state']): void {
    this.workers = this.workers.map((w) => ({ ...w, state }));
    this.writeWorkers();
  }

  private writeWorkers(): void {
    const file = join(this.runDir, 'workers.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(this.workers, null, 2) + '\n');
    renameSync(`${file}.tmp`, file);
  }
}

/** Restarts recorded by earlier sessions of the run (`train`'s and the coordinator's own). */
function countRestarts(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => /^\{"restart":\d+,"of"/.test(l)).length;
}
