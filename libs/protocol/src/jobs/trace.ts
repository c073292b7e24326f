import { FrameIssue } from '../check';
import type { F32Tensor, I32Tensor } from '../tensor';

/*
 * A sampled step's timeline as a train-step result carries it (docs/protocol.md "Step traces").
 * Spans travel as two tensors, row i being one span:
 *   traceTimes float32 [n, 2]: start and end in ms relative to meta.traceOriginMs (the worker's
 *     wall clock, a float64 in msgpack). Start and end, not start and duration: rounding to
 *     float32 is monotonic, so a span inside another stays inside and order is kept.
 *   traceCodes int32 [n, 5]: TRACE_COLUMNS, -1 where a field does not apply.
 * Names come from the fixed table SPANS, so nothing of unbounded size or text is read back.
 */

/** What a span measures; also how trace-log.ts sums spans into a rank's summary. */
export type TraceCat = 'step' | 'kernel' | 'send' | 'recv' | 'wait' | 'segment' | 'allreduce' | 'optimizer';

/** Span name codes (column `name` of traceCodes). */
export const SPAN = {
  step: 0,
  attention: 1,
  sendKv: 2,
  recvKv: 3,
  sendDkv: 4,
  recvDkv: 5,
  sendAllToAll: 6,
  recvAllToAll: 7,
  wait: 8,
  embedding: 9,
  preAttention: 10,
  postAttention: 11,
  head: 12,
  gradRead: 13,
  allReduce: 14,
  allReduceWait: 15,
  optimizer: 16,
} as const;
export type SpanCode = (typeof SPAN)[keyof typeof SPAN];

/** Every code's name and category (a Record over SpanCode: adding a code without its entry does not compile). */
export const SPAN_INFO: Readonly<Record<SpanCode, { name: string; cat: TraceCat }>> = Object.freeze({
  [SPAN.step]: { name: 'step', cat: 'step' },
  [SPAN.attention]: { name: 'attention', cat: 'kernel' },
  [SPAN.sendKv]: { name: 'send kv', cat: 'send' },
  [SPAN.recvKv]: { name: 'recv kv', cat: 'recv' },
  [SPAN.sendDkv]: { name: 'send dkv', cat: 'send' },
  [SPAN.recvDkv]: { name: 'recv dkv', cat: 'recv' },
  [SPAN.sendAllToAll]: { name: 'send all-to-all', cat: 'send' },
  [SPAN.recvAllToAll]: { name: 'recv all-to-all', cat: 'recv' },
  [SPAN.wait]: { name: 'wait', cat: 'wait' },
  [SPAN.embedding]: { name: 'embedding', cat: 'segment' },
  [SPAN.preAttention]: { name: 'pre-attention', cat: 'segment' },
  [SPAN.postAttention]: { name: 'post-attention', cat: 'segment' },
  [SPAN.head]: { name: 'head', cat: 'segment' },
  [SPAN.gradRead]: { name: 'grad read', cat: 'segment' },
  [SPAN.allReduce]: { name: 'allreduce', cat: 'allreduce' },
  [SPAN.allReduceWait]: { name: 'allreduce wait', cat: 'wait' },
  [SPAN.optimizer]: { name: 'optimizer', cat: 'optimizer' },
});

/** Codes run 0..SPAN_COUNT-1. */
export const SPAN_COUNT = Object.keys(SPAN).length;

/** Phase codes (column `phase`); NONE (-1) for spans outside forward/backward. */
export const PHASE = { none: -1, fwd: 0, bwd: 1 } as const;
export const PHASE_NAMES = ['fwd', 'bwd'] as const;
export type PhaseCode = (typeof PHASE)[keyof typeof PHASE];

/** The columns of traceCodes, in order. */
export const TRACE_COLUMNS = ['name', 'phase', 'layer', 'hop', 'peer'] as const;

/** Most spans one rank reports for one step; a worker drops the rest and counts them (meta.traceDropped). */
export const MAX_TRACE_SPANS = 100_000;
/** Largest layer, hop or peer index a span may carry. */
export const MAX_TRACE_INDEX = 1 << 20;

/** Read once: the getter costs more than the clock itself. */
const TIME_ORIGIN = performance.timeOrigin;

/** The clock of every trace timestamp, on both ends: ms since the Unix epoch, sub-ms resolution. */
export function wallClockMs(): number {
  return TIME_ORIGIN + performance.now();
}

/** The train-step result fields of a trace (schema in kinds.ts). */
export interface TraceFields {
  meta: { traceOriginMs?: number; recvAtMs?: number; sendAtMs?: number; traceDropped?: number };
  tensors: { traceTimes?: F32Tensor; traceCodes?: I32Tensor };
}

/**
 * A trace comes whole or not at all: both tensors with the same n ≤ MAX_TRACE_SPANS rows, the
 * three clock readings, finite times with end ≥ start, and only known codes.
 */
export function checkTrace({ meta, tensors }: TraceFields): void {
  const { traceTimes: times, traceCodes: codes } = tensors;
  const parts = [times, codes, meta.traceOriginMs, meta.recvAtMs, meta.sendAtMs];
  const present = parts.filter((p) => p !== undefined).length;
  if (present === 0) {
    if (meta.traceDropped !== undefined) throw new FrameIssue('meta.traceDropped', 'nothing without a trace', `${meta.traceDropped}`);
    return;
  }
  if (present !== parts.length) throw new FrameIssue('tensors.traceTimes', 'traceTimes, traceCodes, traceOriginMs, recvAtMs and sendAtMs together', `${present} of them`);
  const n = times!.shape[0];
  if (n > MAX_TRACE_SPANS) throw new FrameIssue('tensors.traceTimes', `at most ${MAX_TRACE_SPANS} spans`, `${n}`);
  if (times!.shape[1] !== 2) throw new FrameIssue('tensors.traceTimes', `shape [${n}, 2]`, `shape [${times!.shape.join(', ')}]`);
  const width = TRACE_COLUMNS.length;
  if (codes!.shape[0] !== n || codes!.shape[1] !== width) throw new FrameIssue('tensors.traceCodes', `shape [${n}, ${width}]`, `shape [${codes!.shape.join(', ')}]`);
  const t = times!.data;
  const c = codes!.data;
  for (let i = 0; i < n; i++) {
    const start = t[2 * i];
    const end = t[2 * i + 1];
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) throw new FrameIssue(`tensors.traceTimes[${i}]`, 'finite start ≤ end', `${start}, ${end}`);
    const row = i * width;
    if (c[row] < 0 || c[row] >= SPAN_COUNT) throw new FrameIssue(`tensors.traceCodes[${i}].name`, 'a span code', `${c[row]}`);
    if (c[row + 1] < PHASE.none || c[row + 1] > PHASE.bwd) throw new FrameIssue(`tensors.traceCodes[${i}].phase`, 'a phase code', `${c[row + 1]}`);
    for (let k = 2; k < width; k++) {
      if (c[row + k] < -1 || c[row + k] > MAX_TRACE_INDEX) throw new FrameIssue(`tensors.traceCodes[${i}].${TRACE_COLUMNS[k]}`, `-1..${MAX_TRACE_INDEX}`, `${c[row + k]}`);
    }
  }
}
