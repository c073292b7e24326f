import { PHASE_NAMES, SPAN_INFO, TRACE_COLUMNS, type SpanCode, type TraceCat } from '@ringtrain/protocol';
import type { RankTrace } from '../world/replicas';

/**
 * One line of RUN/trace.jsonl (the dashboard contract): a sampled step's spans of every rank on
 * the coordinator's clock, and per rank a summary of where its step went.
 */
export interface TraceLine {
  step: number;
  /** The step's start, coordinator clock (ISO). */
  time: string;
  /** The step as the coordinator timed it. */
  stepMs: number;
  ranks: RankTraceLine[];
}

export interface RankTraceLine {
  rank: number;
  host: string;
  /** This worker's clock minus the coordinator's (ms): aligned time = worker time − offsetMs. */
  offsetMs: number;
  /** How far offsetMs may be off: half the job's round trip less the worker's time on it. */
  offsetErrorMs: number;
  summary: RankSummary;
  /** Ordered by start (a span before the spans inside it). */
  spans: TraceSpan[];
  /** Spans the worker left out past MAX_TRACE_SPANS (absent when none). */
  droppedSpans?: number;
}

export interface TraceSpan {
  /** The span's name, with its phase when it has one ("attention fwd"). */
  name: string;
  cat: TraceCat;
  /** ms since the Unix epoch, coordinator clock. */
  ts: number;
  dur: number;
  layer?: number;
  /** Ring step (0 = the rank's own block; a dK/dV accumulator's hop is the step it was sent at). */
  hop?: number;
  phase?: 'fwd' | 'bwd';
  /** The other rank: where a transfer goes or comes from, whose K/V block a kernel call used. */
  peer?: number;
}

export interface RankSummary {
  /** The worker's step span. */
  stepMs: number;
  /** Kernels, local segments and the optimizer. */
  computeMs: number;
  kernelMs: number;
  /** Time any transfer (K/V, accumulators, all-to-all, all-reduce buckets) was in flight: the union of those spans. */
  commMs: number;
  /** Waits compute did not hide (attention transfers and the all-reduce's tail). */
  waitMs: number;
  /** 1 − waitMs / commMs: the share of communication hidden under compute (1 without communication). */
  overlap: number;
  /** stepMs over the ranks' median by more than STRAGGLER_MARGIN. */
  straggler: boolean;
}

export const STRAGGLER_MARGIN = 0.1;

/**
 * The worker's clock minus the coordinator's, NTP-style from one job: the request took
 * d1 = recvAt − sentAt − offset, the result d2 = receivedAt − sendAt + offset; assuming
 * d1 = d2, offset = ((recvAt − sentAt) + (sendAt − receivedAt)) / 2. The error is half the
 * difference of the two transit times, at most half the round trip.
 */
export function clockOffsetMs(t: Pick<RankTrace, 'sentAtMs' | 'receivedAtMs' | 'recvAtMs' | 'sendAtMs'>): number {
  return (t.recvAtMs - t.sentAtMs + (t.sendAtMs - t.receivedAtMs)) / 2;
}

/**
 * The bound on clockOffsetMs's error: half the round trip, (receivedAt − sentAt) − (sendAt −
 * recvAt), over 2. Aligned, the worker's [recvAt, sendAt] always falls inside the coordinator's
 * [sentAt, receivedAt], whatever the error.
 */
export function clockErrorMs(t: Pick<RankTrace, 'sentAtMs' | 'receivedAtMs' | 'recvAtMs' | 'sendAtMs'>): number {
  return Math.max(0, t.receivedAtMs - t.sentAtMs - (t.sendAtMs - t.recvAtMs)) / 2;
}

/** A rank's spans on the coordinator's clock, ordered by start (the longer first on a tie, so a span precedes those inside it). */
export function alignedSpans(t: RankTrace, offsetMs: number): TraceSpan[] {
  const width = TRACE_COLUMNS.length;
  const base = t.originMs - offsetMs;
  const spans: TraceSpan[] = [];
  for (let i = 0; i < t.times.length / 2; i++) {
    const c = t.codes.subarray(i * width, (i + 1) * width);
    const info = SPAN_INFO[c[0] as SpanCode]; // a known code: checkTrace proved it
    const phase = c[1] >= 0 ? PHASE_NAMES[c[1]] : undefined;
    // Start and end are rounded to the µs each (monotonic): a span inside another stays inside.
    const ts = roundUs(base + t.times[2 * i]);
    const span: TraceSpan = { name: phase ? `${info.name} ${phase}` : info.name, cat: info.cat, ts, dur: roundUs(roundUs(base + t.times[2 * i + 1]) - ts) };
    if (c[2] >= 0) span.layer = c[2];
    if (c[3] >= 0) span.hop = c[3];
    if (phase) span.phase = phase;
    if (c[4] >= 0) span.peer = c[4];
    spans.push(span);
  }
  return spans.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
}

/** Where a rank's step went (straggler is decided across ranks: markStragglers). */
export function summarize(spans: readonly TraceSpan[]): Omit<RankSummary, 'straggler'> {
  const total = (cats: readonly TraceCat[]) => spans.reduce((a, s) => (cats.includes(s.cat) ? a + s.dur : a), 0);
  const commMs = unionMs(spans.filter((s) => s.cat === 'send' || s.cat === 'recv' || s.cat === 'allreduce'));
  const waitMs = total(['wait']);
  return {
    stepMs: roundUs(total(['step'])),
    computeMs: roundUs(total(['kernel', 'segment', 'optimizer'])),
    kernelMs: roundUs(total(['kernel'])),
    commMs: roundUs(commMs),
    waitMs: roundUs(waitMs),
    overlap: commMs > 0 ? Math.round(Math.min(1, Math.max(0, 1 - waitMs / commMs)) * 1e4) / 1e4 : 1,
  };
}

/** Which ranks' steps took longer than the median step by more than STRAGGLER_MARGIN. */
export function markStragglers(stepMs: readonly number[]): boolean[] {
  const sorted = [...stepMs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return stepMs.map((ms) => ms > median * (1 + STRAGGLER_MARGIN));
}

/** A sampled step's trace.jsonl line from every rank's timeline. */
export function traceLine(step: number, startedAtMs: number, stepMs: number, traces: readonly RankTrace[], hostOf: (rank: number) => string): TraceLine {
  const ranks = traces.map((t) => {
    const offsetMs = clockOffsetMs(t);
    const spans = alignedSpans(t, offsetMs);
    const line: RankTraceLine = { rank: t.rank, host: hostOf(t.rank), offsetMs: roundUs(offsetMs), offsetErrorMs: roundUs(clockErrorMs(t)), summary: { ...summarize(spans), straggler: false }, spans };
    if (t.dropped > 0) line.droppedSpans = t.dropped;
    return line;
  });
  markStragglers(ranks.map((r) => r.summary.stepMs)).forEach((s, i) => (ranks[i].summary.straggler = s));
  return { step, time: new Date(startedAtMs).toISOString(), stepMs: roundUs(stepMs), ranks };
}

/** Total length covered by the spans (overlaps counted once). */
export function unionMs(spans: readonly TraceSpan[]): number {
  const sorted = [...spans].sort((a, b) => a.ts - b.ts);
  let total = 0;
  let end = -Infinity;
  for (const s of sorted) {
    const e = s.ts + s.dur;
    if (e <= end) continue;
    total += e - Math.max(s.ts, end);
    end = e;
  }
  return total;
}

function roundUs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
