import { Decimated } from '../src/decimate';
import type { DashboardState, ListName, LiveMessage, MetricsRow, Row, RunLock, TraceHeader } from '../src/types';

/** What changed since the page last drew, so a burst of messages costs one redraw. */
export interface Dirty {
  metrics: boolean;
  lists: boolean;
  workers: boolean;
  config: boolean;
  trace: boolean;
  header: boolean;
}

const MAX_LIST = 2000;

/** The page's copy of the run, kept up to date from /live. */
export class Store {
  runDir = '';
  readOnly = true;
  config: Row | null = null;
  summary: Row | null = null;
  lock: RunLock | null = null;
  checkpointDirs: string[] | null = null;
  workers: Row[] | null = null;
  metrics = new Decimated<MetricsRow>(5000);
  lists: Record<ListName, Row[]> = { eval: [], checkpoints: [], restarts: [], events: [] };
  omitted: Record<string, number> = {};
  traceSteps: number[] = [];
  latestTrace: TraceHeader | null = null;
  problems: string[] = [];
  /** When the last step arrived here (page clock), for "last step … ago". */
  lastStepAt: number | null = null;
  dirty: Dirty = { metrics: true, lists: true, workers: true, config: true, trace: true, header: true };

  apply(m: LiveMessage): void {
    switch (m.type) {
      case 'snapshot':
        return this.load(m.state);
      case 'metrics':
        for (const row of m.rows) this.metrics.push(row);
        this.lastStepAt = Date.now();
        this.dirty.metrics = this.dirty.header = true;
        return;
      case 'append': {
        const list = this.lists[m.list];
        list.push(...m.rows);
        if (list.length > MAX_LIST * 1.25) {
          const drop = list.length - MAX_LIST;
          list.splice(0, drop);
          this.omitted[m.list] = (this.omitted[m.list] ?? 0) + drop;
        }
        this.dirty.lists = this.dirty.header = true;
        if (m.list === 'eval') this.dirty.metrics = true;
        return;
      }
      case 'workers':
        this.workers = m.workers;
        this.dirty.workers = true;
        return;
      case 'lock':
        this.lock = m.lock;
        this.dirty.header = true;
        return;
      case 'checkpointDirs':
        this.checkpointDirs = m.dirs;
        this.dirty.lists = true;
        return;
      case 'config':
        this.config = m.config;
        this.dirty.config = this.dirty.metrics = this.dirty.header = true;
        return;
      case 'summary':
        this.summary = m.summary;
        this.dirty.header = true;
        return;
      case 'trace':
        if (!this.traceSteps.includes(m.header.step)) this.traceSteps.push(m.header.step);
        this.traceSteps.sort((a, b) => a - b);
        this.latestTrace = m.header;
        this.dirty.trace = true;
        return;
      case 'problem':
        this.problems.push(m.message);
        this.dirty.header = true;
        return;
    }
  }

  private load(s: DashboardState): void {
    this.runDir = s.runDir;
    this.readOnly = s.readOnly;
    this.config = s.config;
    this.summary = s.summary;
    this.lock = s.lock;
    this.checkpointDirs = s.checkpointDirs;
    this.workers = s.workers;
    this.metrics = new Decimated<MetricsRow>(5000, s.metrics.stride);
    for (const row of s.metrics.rows) this.metrics.push(row);
    this.lists = { eval: s.eval, checkpoints: s.checkpoints, restarts: s.restarts, events: s.events };
    this.omitted = { ...s.omitted };
    this.traceSteps = s.trace.steps;
    this.latestTrace = s.trace.latest;
    this.problems = s.problems;
    this.dirty = { metrics: true, lists: true, workers: true, config: true, trace: true, header: true };
  }

  /** The run's total steps (config), or null. */
  totalSteps(): number | null {
    const c = this.config;
    const t = c?.totalSteps ?? (c?.optim as Row | undefined)?.totalSteps ?? c?.steps;
    return typeof t === 'number' ? t : null;
  }

  /** running, finished, stopped, failed, or not running (from the lock, the summary and events). */
  status(): { label: string; kind: 'running' | 'done' | 'stopped' | 'failed' | 'idle' | 'waiting' } {
    const events = this.lists.events;
    const lastEvent = events.length > 0 ? String(events[events.length - 1].kind ?? '') : '';
    if (this.lock !== null && this.lock.alive !== false) {
      return this.metrics.last === null ? { label: 'starting', kind: 'waiting' } : { label: 'running', kind: 'running' };
    }
    if (this.summary !== null && this.summary.stopped !== true) return { label: 'finished', kind: 'done' };
    if (lastEvent === 'done') return { label: 'finished', kind: 'done' };
    if (lastEvent === 'stopped' || this.summary?.stopped === true) return { label: 'stopped', kind: 'stopped' };
    if (lastEvent === 'failure') return { label: 'failed', kind: 'failed' };
    return { label: 'not running', kind: 'idle' };
  }
}
