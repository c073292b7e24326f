/*
 * What the dashboard server sends the page (GET /api/state, the /live WebSocket). Shared by the
 * server (libs/dashboard/src) and the page (libs/dashboard/page), so both read one definition.
 * Rows are the run directory's JSON lines as written (docs/dashboard.md, the data contract):
 * the page reads the fields it knows and leaves the rest.
 */

/** One parsed JSON line of a run file: an object (lines that are not objects are skipped). */
export type Row = Record<string, unknown>;

/** One line of metrics.jsonl; `step` is checked to be a finite number, the rest as written. */
export interface MetricsRow extends Row {
  step: number;
}

/** A rank's part of a traced step without its spans (trace.jsonl "ranks", spans counted instead). */
export interface TraceRankHeader {
  rank: number;
  host: string;
  offsetMs: number | null;
  summary: Row | null;
  spans: number;
}

/** A traced step as the state lists it; its spans come from GET /api/trace?step=N. */
export interface TraceHeader {
  step: number;
  time: string | null;
  stepMs: number | null;
  ranks: TraceRankHeader[];
}

/** One span of trace.jsonl (the data contract, item 3). */
export interface TraceSpan {
  name: string;
  cat: string;
  /** Start, ms since the Unix epoch on the coordinator's clock. */
  ts: number;
  dur: number;
  layer?: number;
  hop?: number;
  phase?: string;
  peer?: number;
}

export interface TraceRank {
  rank: number;
  host?: string;
  /** This worker's clock minus the coordinator's (ms); spans are already aligned. */
  offsetMs?: number;
  /** How far offsetMs may be off. */
  offsetErrorMs?: number;
  /** Spans the worker left out past its limit. */
  droppedSpans?: number;
  summary?: Row;
  spans: TraceSpan[];
}

/** One line of trace.jsonl: what GET /api/trace?step=N returns. */
export interface TraceStep {
  step: number;
  time?: string;
  stepMs?: number;
  ranks: TraceRank[];
}

export interface DashboardState {
  runDir: string;
  /** No actions here: the server reads the files of a run it does not control. */
  readOnly: boolean;
  serverTime: string;
  config: Row | null;
  summary: Row | null;
  metrics: {
    /** Every `stride`-th step (all of them while there are few) and always the latest. */
    rows: MetricsRow[];
    stride: number;
    /** Lines of metrics.jsonl read so far. */
    total: number;
  };
  eval: Row[];
  checkpoints: Row[];
  restarts: Row[];
  events: Row[];
  /** The run's lock (.ringtrain.lock) while a process holds it, and whether that process lives. */
  lock: RunLock | null;
  /** Committed checkpoint directories on disk now (checkpoints/step-N), or null without any. */
  checkpointDirs: string[] | null;
  /** workers.json, or null while the run has none. */
  workers: Row[] | null;
  trace: { steps: number[]; latest: TraceHeader | null };
  /** Lines of a list left out of this snapshot (only the newest are kept), by file. */
  omitted: Record<string, number>;
  /** What the server could not read, said once each (a line that is not JSON, a file it cannot open). */
  problems: string[];
}

/** Who holds the run directory: `train` or the coordinator while the run lives. */
export interface RunLock {
  pid: number | null;
  host: string | null;
  startedAt: string | null;
  /** Whether that process is alive; null when it runs on another host. */
  alive: boolean | null;
}

/** Appended-to JSON-line files other than metrics and trace. */
export type ListName = 'eval' | 'checkpoints' | 'restarts' | 'events';

/** What /live pushes: a snapshot first, then what changed. */
export type LiveMessage =
  | { type: 'snapshot'; state: DashboardState }
  | { type: 'metrics'; rows: MetricsRow[] }
  | { type: 'append'; list: ListName; rows: Row[] }
  | { type: 'workers'; workers: Row[] | null }
  | { type: 'lock'; lock: RunLock | null }
  | { type: 'checkpointDirs'; dirs: string[] | null }
  | { type: 'config'; config: Row | null }
  | { type: 'summary'; summary: Row | null }
  | { type: 'trace'; header: TraceHeader }
  | { type: 'problem'; message: string };

/** The answer to POST /api/actions/*, also its error form. */
export interface ActionAnswer {
  ok: boolean;
  message: string;
}
