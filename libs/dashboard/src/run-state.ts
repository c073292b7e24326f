import { open, readFile, readdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Decimated } from './decimate';
import { JsonlTail, type TailSink } from './jsonl-tail';
import type { DashboardState, ListName, LiveMessage, MetricsRow, Row, RunLock, TraceHeader, TraceRankHeader } from './types';

/** The files of a run directory the dashboard reads (the data contract; docs/dashboard.md). */
export const RUN_FILES = Object.freeze({
  config: 'config.json',
  summary: 'summary.json',
  workers: 'workers.json',
  metrics: 'metrics.jsonl',
  eval: 'eval.jsonl',
  checkpoints: 'checkpoints.jsonl',
  restarts: 'restarts.jsonl',
  events: 'events.jsonl',
  trace: 'trace.jsonl',
  chromeTrace: 'trace.json',
  lock: '.ringtrain.lock',
  checkpointDir: 'checkpoints',
});

export interface RunStateOptions {
  /** Metric points kept for charts (every n-th step beyond this). Default 5000. */
  maxPoints?: number;
  /** Newest lines kept per list (events, checkpoints, restarts); eval keeps 5×. Default 2000. */
  maxListRows?: number;
  /** Snapshots say the server takes no actions. Default true. */
  readOnly?: boolean;
}

const MAX_PROBLEMS = 50;

/** The newest `max` rows of a JSON-line file, and how many older ones went. */
class BoundedList {
  rows: Row[] = [];
  omitted = 0;
  constructor(private readonly max: number) {}
  push(row: Row): void {
    this.rows.push(row);
    if (this.rows.length > this.max * 1.25) {
      const drop = this.rows.length - this.max;
      this.rows.splice(0, drop);
      this.omitted += drop;
    }
  }
  view(): Row[] {
    if (this.rows.length <= this.max) return this.rows.slice();
    return this.rows.slice(this.rows.length - this.max);
  }
  dropped(): number {
    return this.omitted + Math.max(0, this.rows.length - this.max);
  }
  clear(): void {
    this.rows = [];
    this.omitted = 0;
  }
}

/** A whole JSON file rewritten in place (config.json, summary.json, workers.json). */
class WholeFile<T> {
  value: T | null = null;
  private seen = '';
  constructor(
    readonly file: string,
    private readonly accept: (v: unknown) => T | null,
  ) {}
  /** Rereads the file when its size or time changed; true when its value changed. */
  async refresh(problem: (msg: string) => void): Promise<boolean> {
    let key: string;
    try {
      const st = await stat(this.file);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (this.value === null) return false;
      this.value = null;
      this.seen = '';
      return true;
    }
    if (key === this.seen) return false;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // renamed away meanwhile
      throw e;
    }
    let parsed: T | null;
    try {
      parsed = this.accept(JSON.parse(text));
    } catch {
      // Being written (a file not replaced atomically): keep the last good value, try again later.
      return false;
    }
    this.seen = key;
    if (parsed === null) {
      problem(`${this.file} is not what the dashboard expects; ignored`);
      return false;
    }
    const changed = JSON.stringify(parsed) !== JSON.stringify(this.value);
    this.value = parsed;
    return changed;
  }
}

const isObject = (v: unknown): v is Row => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A trace.jsonl line cut to its header: steps, times, each rank's summary and span count. */
export function traceHeaderOf(v: unknown): TraceHeader | null {
  if (!isObject(v) || num(v.step) === null || !Array.isArray(v.ranks)) return null;
  const ranks: TraceRankHeader[] = [];
  for (const r of v.ranks) {
    if (!isObject(r) || num(r.rank) === null) continue;
    ranks.push({
      rank: r.rank as number,
      host: typeof r.host === 'string' ? r.host : '',
      offsetMs: num(r.offsetMs),
      summary: isObject(r.summary) ? r.summary : null,
      spans: Array.isArray(r.spans) ? r.spans.length : 0,
    });
  }
  return { step: v.step as number, time: typeof v.time === 'string' ? v.time : null, stepMs: num(v.stepMs), ranks };
}

/**
 * What the dashboard knows of one run directory, brought up to date by poll() from its files
 * alone: the JSON-line files are tailed (JsonlTail), the whole-JSON files reread when they
 * change. Bounded in memory over any run length: metrics are decimated (Decimated), lists keep
 * their newest rows, traces are indexed by step (offset and length in trace.jsonl) and read
 * back from the file on request.
 */
export class RunState {
  readonly config: WholeFile<Row>;
  readonly summary: WholeFile<Row>;
  readonly workers: WholeFile<Row[]>;
  private readonly lockFile: WholeFile<Row>;
  private lock: RunLock | null = null;
  private checkpointDirs: string[] | null = null;
  private readonly metricsTail: JsonlTail;
  private readonly traceTail: JsonlTail;
  private readonly listTails: Record<ListName, JsonlTail>;
  private metrics: Decimated<MetricsRow>;
  private readonly lists: Record<ListName, BoundedList>;
  private traceIndex = new Map<number, { offset: number; bytes: number }>();
  private traceLatest: TraceHeader | null = null;
  private readonly problemList: string[] = [];
  private readonly maxPoints: number;
  private readonly readOnly: boolean;

  constructor(
    readonly runDir: string,
    opts: RunStateOptions = {},
  ) {
    const f = (name: string) => join(runDir, name);
    this.maxPoints = opts.maxPoints ?? 5000;
    this.readOnly = opts.readOnly ?? true;
    const maxRows = opts.maxListRows ?? 2000;
    this.config = new WholeFile(f(RUN_FILES.config), (v) => (isObject(v) ? v : null));
    this.summary = new WholeFile(f(RUN_FILES.summary), (v) => (isObject(v) ? v : null));
    this.workers = new WholeFile(f(RUN_FILES.workers), (v) => (Array.isArray(v) ? v.filter(isObject) : null));
    this.lockFile = new WholeFile(f(RUN_FILES.lock), (v) => (isObject(v) ? v : null));
    this.metricsTail = new JsonlTail(f(RUN_FILES.metrics));
    this.traceTail = new JsonlTail(f(RUN_FILES.trace));
    this.listTails = {
      eval: new JsonlTail(f(RUN_FILES.eval)),
      checkpoints: new JsonlTail(f(RUN_FILES.checkpoints)),
      restarts: new JsonlTail(f(RUN_FILES.restarts)),
      events: new JsonlTail(f(RUN_FILES.events)),
    };
    this.metrics = new Decimated<MetricsRow>(this.maxPoints);
    this.lists = { eval: new BoundedList(maxRows * 5), checkpoints: new BoundedList(maxRows), restarts: new BoundedList(maxRows), events: new BoundedList(maxRows) };
  }

  /** Problems said so far (unreadable lines, files), oldest first. */
  get problems(): readonly string[] {
    return this.problemList;
  }

  /**
   * Reads what changed in the run directory since the last poll; returns the messages that tell
   * a page about it. A change a delta cannot express (a file started over, metrics rolled back)
   * is one fresh snapshot instead.
   */
  async poll(): Promise<LiveMessage[]> {
    const out: LiveMessage[] = [];
    let restart = false;
    const problem = (msg: string) => {
      if (this.problemList.length < MAX_PROBLEMS && !this.problemList.includes(msg)) {
        this.problemList.push(msg);
        out.push({ type: 'problem', message: msg });
      }
    };
    if (await this.config.refresh(problem)) out.push({ type: 'config', config: this.config.value });
    if (await this.summary.refresh(problem)) out.push({ type: 'summary', summary: this.summary.value });
    if (await this.workers.refresh(problem)) out.push({ type: 'workers', workers: this.workers.value });
    await this.lockFile.refresh(problem);
    const lock = lockOf(this.lockFile.value);
    if (JSON.stringify(lock) !== JSON.stringify(this.lock)) {
      this.lock = lock;
      out.push({ type: 'lock', lock });
    }
    const dirs = await checkpointDirsOf(join(this.runDir, RUN_FILES.checkpointDir));
    if (JSON.stringify(dirs) !== JSON.stringify(this.checkpointDirs)) {
      this.checkpointDirs = dirs;
      out.push({ type: 'checkpointDirs', dirs });
    }

    const newRows: MetricsRow[] = [];
    await this.metricsTail.read(this.sink(RUN_FILES.metrics, problem, {
      reset: () => {
        this.metrics = new Decimated<MetricsRow>(this.maxPoints);
        restart = true;
      },
      line: (v) => {
        if (!isObject(v) || num(v.step) === null) return problem(`${RUN_FILES.metrics}: a line without a numeric "step" skipped`);
        const row = v as MetricsRow;
        if (this.metrics.push(row)) restart = true;
        newRows.push(row);
      },
    }));
    for (const list of Object.keys(this.listTails) as ListName[]) {
      const rows: Row[] = [];
      await this.listTails[list].read(this.sink(`${list}.jsonl`, problem, {
        reset: () => {
          this.lists[list].clear();
          restart = true;
        },
        line: (v) => {
          if (!isObject(v)) return problem(`${list}.jsonl: a line that is not an object skipped`);
          this.lists[list].push(v);
          rows.push(v);
        },
      }));
      if (rows.length > 0) out.push({ type: 'append', list, rows });
    }
    const traced: TraceHeader[] = [];
    await this.traceTail.read(this.sink(RUN_FILES.trace, problem, {
      reset: () => {
        this.traceIndex.clear();
        this.traceLatest = null;
        restart = true;
      },
      line: (v, offset, bytes) => {
        const header = traceHeaderOf(v);
        if (header === null) return problem(`${RUN_FILES.trace}: a line without "step" and "ranks" skipped`);
        this.traceIndex.delete(header.step); // re-traced after a restart: the newest counts, listed last
        this.traceIndex.set(header.step, { offset, bytes });
        this.traceLatest = header;
        traced.push(header);
      },
    }));
    if (restart) return [{ type: 'snapshot', state: this.snapshot() }];
    if (newRows.length > 0) out.push({ type: 'metrics', rows: newRows });
    for (const header of traced) out.push({ type: 'trace', header });
    return out;
  }

  private sink(file: string, problem: (msg: string) => void, s: Pick<TailSink, 'reset' | 'line'>): TailSink {
    return { ...s, skipped: (offset, why) => problem(`${file}: ${why} at byte ${offset} skipped`) };
  }

  /** Everything the page shows, as of the last poll. */
  snapshot(): DashboardState {
    const omitted: Record<string, number> = {};
    for (const list of Object.keys(this.lists) as ListName[]) {
      const n = this.lists[list].dropped();
      if (n > 0) omitted[list] = n;
    }
    return {
      runDir: this.runDir,
      readOnly: this.readOnly,
      serverTime: new Date().toISOString(),
      config: this.config.value,
      summary: this.summary.value,
      metrics: { rows: this.metrics.rows(), stride: this.metrics.stride, total: this.metrics.total },
      eval: this.lists.eval.view(),
      checkpoints: this.lists.checkpoints.view(),
      restarts: this.lists.restarts.view(),
      events: this.lists.events.view(),
      lock: this.lock,
      checkpointDirs: this.checkpointDirs,
      workers: this.workers.value,
      trace: { steps: [...this.traceIndex.keys()].sort((a, b) => a - b), latest: this.traceLatest },
      omitted,
      problems: [...this.problemList],
    };
  }

  /** The latest metrics row, or null before the first step. */
  latestMetrics(): MetricsRow | null {
    return this.metrics.last;
  }

  /** The newest row of a list, or null. */
  latest(list: ListName): Row | null {
    const rows = this.lists[list].rows;
    return rows.length > 0 ? rows[rows.length - 1] : null;
  }

  /** The rows of a list kept now (the newest). */
  rows(list: ListName): readonly Row[] {
    return this.lists[list].rows;
  }

  /** Lines of a list read so far, kept or not. */
  count(list: ListName): number {
    return this.lists[list].rows.length + this.lists[list].omitted;
  }

  get latestTrace(): TraceHeader | null {
    return this.traceLatest;
  }

  /**
   * The trace.jsonl line of a traced step, as bytes (JSON), or null when that step was not
   * traced or the file changed since it was indexed (the next poll reindexes it).
   */
  async traceLine(step: number): Promise<Buffer | null> {
    const at = this.traceIndex.get(step);
    if (!at) return null;
    const fh = await open(join(this.runDir, RUN_FILES.trace), 'r').catch(() => null);
    if (fh === null) return null;
    try {
      const len = at.bytes - 1; // without the newline
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, at.offset);
      if (bytesRead !== len) return null;
      // Still the line that was indexed? (Cheap: the start must name the step.)
      const head = buf.subarray(0, Math.min(len, 4096)).toString('utf8');
      if (!head.startsWith('{') || !new RegExp(`"step"\\s*:\\s*${step}\\b`).test(head)) {
        const whole = tryParse(buf);
        if (!isObject(whole) || whole.step !== step) return null;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }
}

/** The lock's holder, and whether it lives (on this host; null elsewhere). */
function lockOf(v: Row | null): RunLock | null {
  if (v === null) return null;
  const pid = num(v.pid);
  const host = typeof v.host === 'string' ? v.host : null;
  let alive: boolean | null = null;
  if (pid !== null && host === hostname()) {
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return { pid, host, startedAt: typeof v.startedAt === 'string' ? v.startedAt : null, alive };
}

async function checkpointDirsOf(dir: string): Promise<string[] | null> {
  try {
    const names = (await readdir(dir)).filter((n) => /^step-\d+$/.test(n)).sort();
    return names.length > 0 ? names : null;
  } catch {
    return null;
  }
}

function tryParse(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  }
}
