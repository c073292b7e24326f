import { MAX_TRACE_SPANS, PHASE, SPAN, TRACE_COLUMNS, wallClockMs, type PhaseCode, type SpanCode } from '@ringtrain/protocol';

/**
 * The timeline of a sampled step (the coordinator asks for one every `traceEvery` steps): one
 * process-wide recorder, like comm-timer.ts, since a worker runs one job at a time. Off, every
 * entry point is one boolean check with no allocation, so the instrumentation points cost
 * nothing on the other steps. Recording is synchronous bookkeeping (two clock reads and a few
 * typed-array writes), safe anywhere, inside tidy and tapes included.
 *
 * Spans are stored as absolute wall-clock ms (wallClockMs) in float64 while recording and cut
 * to the wire form (libs/protocol trace.ts: float32 relative to an origin) when taken.
 */
const WIDTH = TRACE_COLUMNS.length;
let on = false;
let count = 0;
let dropped = 0;
let times = new Float64Array(0); // [capacity, 2] start, end
let codes = new Int32Array(0); // [capacity, WIDTH]

/** A step's spans as they go on the wire. */
export interface TraceDump {
  /** The wall-clock ms every time is relative to. */
  originMs: number;
  /** [n, 2] start, end (ms after originMs). */
  times: Float32Array;
  /** [n, 5] name, phase, layer, hop, peer (-1: absent). */
  codes: Int32Array;
  count: number;
  /** Spans left out past MAX_TRACE_SPANS. */
  dropped: number;
}

export function tracing(): boolean {
  return on;
}

/** The start of a span: the clock when tracing, else 0 (never read). */
export function spanStart(): number {
  return on ? wallClockMs() : 0;
}

/** Records a span from `startMs` (spanStart) to now. */
export function spanEnd(name: SpanCode, startMs: number, phase: PhaseCode = PHASE.none, layer = -1, hop = -1, peer = -1): void {
  if (!on) return;
  record(name, startMs, wallClockMs(), phase, layer, hop, peer);
}

/**
 * `pending`, recording a span from now until it settles successfully (a send posted until it
 * is written, a receive posted until its message is here). Off: `pending` itself.
 */
export function traceTransfer<T>(pending: Promise<T>, name: SpanCode, phase: PhaseCode, layer: number, hop: number, peer: number): Promise<T> {
  if (!on) return pending;
  const startMs = wallClockMs();
  return pending.then((v) => {
    spanEnd(name, startMs, phase, layer, hop, peer);
    return v;
  });
}

/**
 * Runs `body` with tracing on when `enabled`, recording it as the `step` span; returns its
 * result and the spans (null when not enabled). Tracing is off again afterwards, also on failure.
 */
export async function withTrace<T>(enabled: boolean, body: () => Promise<T>): Promise<{ result: T; trace: TraceDump | null }> {
  if (!enabled) return { result: await body(), trace: null };
  start();
  try {
    const t0 = spanStart();
    const result = await body();
    spanEnd(SPAN.step, t0);
    return { result, trace: take() };
  } finally {
    on = false;
  }
}

function start(): void {
  on = true;
  count = 0;
  dropped = 0;
  if (times.length === 0) grow(1024);
}

function take(): TraceDump {
  on = false;
  let originMs = Infinity;
  for (let i = 0; i < count; i++) originMs = Math.min(originMs, times[2 * i]);
  if (count === 0) originMs = wallClockMs();
  const rel = new Float32Array(2 * count);
  for (let i = 0; i < 2 * count; i++) rel[i] = times[i] - originMs;
  return { originMs, times: rel, codes: codes.slice(0, WIDTH * count), count, dropped };
}

function record(name: SpanCode, startMs: number, endMs: number, phase: number, layer: number, hop: number, peer: number): void {
  if (count === MAX_TRACE_SPANS) {
    dropped++;
    return;
  }
  if (count * 2 === times.length) grow(Math.min(MAX_TRACE_SPANS, count * 2));
  times[2 * count] = startMs;
  times[2 * count + 1] = endMs;
  const row = WIDTH * count;
  codes[row] = name;
  codes[row + 1] = phase;
  codes[row + 2] = layer;
  codes[row + 3] = hop;
  codes[row + 4] = peer;
  count++;
}

function grow(capacity: number): void {
  const t = new Float64Array(2 * capacity);
  t.set(times.subarray(0, 2 * count));
  const c = new Int32Array(WIDTH * capacity);
  c.set(codes.subarray(0, WIDTH * count));
  times = t;
  codes = c;
}
