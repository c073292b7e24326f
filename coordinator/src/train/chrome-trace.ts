import type { TraceCat } from '@ringtrain/protocol';
import type { TraceLine, TraceSpan } from './trace-record';

/**
 * Sampled steps as Chrome trace JSON (chrome://tracing, Perfetto, Speedscope): one process per
 * rank, complete ("X") events in µs on the coordinator's clock. A viewer draws a thread's events
 * as a stack, so spans that overlap without nesting (a send and a receive in flight together,
 * all-reduce buckets) must sit on threads of their own: each category gets a track, and a track
 * as many lanes as its overlapping spans need.
 */
export interface ChromeEvent {
  name: string;
  ph: 'X' | 'M';
  pid: number;
  tid: number;
  cat?: string;
  ts?: number;
  dur?: number;
  args: Record<string, string | number>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms';
}

/** Tracks in display order; the kernels, local segments and optimizer run one after another on the JS thread. */
const TRACKS: ReadonlyArray<{ name: string; cats: readonly TraceCat[] }> = [
  { name: 'step', cats: ['step'] },
  { name: 'compute', cats: ['segment', 'kernel', 'optimizer'] },
  { name: 'wait', cats: ['wait'] },
  { name: 'send', cats: ['send'] },
  { name: 'recv', cats: ['recv'] },
  { name: 'allreduce', cats: ['allreduce'] },
];
/** tid = track · LANES + lane; lanes past the last share it. */
const LANES = 100;

/** One sampled step's part of the document: its events, and the processes and threads they use. */
export interface ChromeStep {
  events: ChromeEvent[];
  processes: Array<{ pid: number; host: string }>;
  threads: Array<{ pid: number; tid: number }>;
}

export function chromeTrace(lines: readonly TraceLine[]): ChromeTrace {
  const steps = lines.map(chromeStep);
  return { traceEvents: [...chromeMetadata(steps), ...steps.flatMap((s) => s.events)], displayTimeUnit: 'ms' };
}

/** One sampled step's spans as complete events, the step number in each event's args. */
export function chromeStep(line: TraceLine): ChromeStep {
  const threads = new Map<string, { pid: number; tid: number }>();
  const events = line.ranks.flatMap((r) => {
    const tids = lanesOf(r.spans);
    for (const tid of tids) threads.set(`${r.rank}:${tid}`, { pid: r.rank, tid });
    return r.spans.map((s, i) => {
      const args: Record<string, string | number> = { step: line.step };
      if (s.layer !== undefined) args.layer = s.layer;
      if (s.hop !== undefined) args.hop = s.hop;
      if (s.phase !== undefined) args.phase = s.phase;
      if (s.peer !== undefined) args.peer = s.peer;
      return { name: s.name, cat: s.cat, ph: 'X' as const, ts: us(s.ts), dur: us(s.ts + s.dur) - us(s.ts), pid: r.rank, tid: tids[i], args };
    });
  });
  return { events, processes: line.ranks.map((r) => ({ pid: r.rank, host: r.host })), threads: [...threads.values()] };
}

/** Process names ("rank 0 (host)") and order, and the name of every thread the steps use. */
export function chromeMetadata(steps: ReadonlyArray<Pick<ChromeStep, 'processes' | 'threads'>>): ChromeEvent[] {
  const out: ChromeEvent[] = [];
  const ranks = new Map<number, string>();
  const threads = new Map<string, { pid: number; tid: number }>();
  for (const step of steps) {
    for (const p of step.processes) ranks.set(p.pid, p.host);
    for (const t of step.threads) threads.set(`${t.pid}:${t.tid}`, t);
  }
  for (const [rank, host] of [...ranks].sort((a, b) => a[0] - b[0])) {
    out.push({ name: 'process_name', ph: 'M', pid: rank, tid: 0, args: { name: `rank ${rank} (${host})` } });
    out.push({ name: 'process_sort_index', ph: 'M', pid: rank, tid: 0, args: { sort_index: rank } });
  }
  for (const { pid, tid } of threads.values()) {
    const track = TRACKS[Math.floor(tid / LANES)].name;
    const lane = tid % LANES;
    out.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: lane === 0 ? track : `${track} ${lane + 1}` } });
    out.push({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } });
  }
  return out;
}

/**
 * The thread of each span (spans in start order): its category's track, and the first lane of
 * that track whose last span ended by this one's start.
 */
function lanesOf(spans: readonly TraceSpan[]): number[] {
  const ends = TRACKS.map(() => [] as number[]);
  return spans.map((s) => {
    const track = Math.max(0, TRACKS.findIndex((t) => t.cats.includes(s.cat)));
    const lanes = ends[track];
    const end = s.ts + s.dur;
    let lane = lanes.findIndex((e) => e <= s.ts);
    if (lane < 0) lane = lanes.push(end) - 1;
    else lanes[lane] = end;
    return track * LANES + Math.min(lane, LANES - 1);
  });
}

/** Whole µs (start and end rounded each: a span inside another stays inside). */
function us(ms: number): number {
  return Math.round(ms * 1000);
}
