import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PHASE, SPAN, type SpanCode } from '@ringtrain/protocol';
import type { RankTrace } from '../world/replicas';
import { chromeTrace, type ChromeEvent } from './chrome-trace';
import { CHROME_STEPS, TraceLog } from './trace-log';
import { alignedSpans, clockErrorMs, clockOffsetMs, markStragglers, summarize, traceLine, unionMs, type TraceSpan } from './trace-record';

/** [code, start, end, phase, layer, hop, peer] relative to the origin. */
type Row = [SpanCode, number, number, number?, number?, number?, number?];

/**
 * A rank's trace as a worker whose clock is `skewMs` ahead of the coordinator's would send it:
 * the job took `upMs` to arrive and the result `downMs` to come back.
 */
function rankTrace(rank: number, rows: Row[], o: { skewMs?: number; upMs?: number; downMs?: number; originMs?: number } = {}): RankTrace {
  const { skewMs = 0, upMs = 1, downMs = 1, originMs = 1.7e12 + 10 } = o;
  const sentAtMs = 1.7e12;
  const recvAtMs = sentAtMs + upMs + skewMs;
  const sendAtMs = recvAtMs + 100;
  return {
    rank, sentAtMs, recvAtMs, sendAtMs, receivedAtMs: sendAtMs - skewMs + downMs, originMs: originMs + skewMs, dropped: 0,
    times: Float32Array.from(rows.flatMap((r) => [r[1], r[2]])),
    codes: Int32Array.from(rows.flatMap((r) => [r[0], r[3] ?? -1, r[4] ?? -1, r[5] ?? -1, r[6] ?? -1])),
  };
}

const span = (cat: TraceSpan['cat'], ts: number, dur: number): TraceSpan => ({ name: cat, cat, ts, dur });

describe('clock alignment', () => {
  it('recovers the skew exactly when both transits take as long', () => {
    expect(clockOffsetMs(rankTrace(0, [], { skewMs: 1000, upMs: 3, downMs: 3 }))).toBe(1000);
    expect(clockOffsetMs(rankTrace(0, [], { skewMs: -250.5, upMs: 2, downMs: 2 }))).toBe(-250.5);
  });

  it('is off by half the difference of the transits', () => {
    expect(clockOffsetMs(rankTrace(0, [], { skewMs: 1000, upMs: 2, downMs: 6 }))).toBe(998);
    expect(clockOffsetMs({ sentAtMs: 0, recvAtMs: 1002, sendAtMs: 1052, receivedAtMs: 56 })).toBe(999);
    // Round trip 56 ms, 50 of them on the worker: the offset is good to ±3 ms (here it is off by 1).
    expect(clockErrorMs({ sentAtMs: 0, recvAtMs: 1002, sendAtMs: 1052, receivedAtMs: 56 })).toBe(3);
  });

  it('puts a skewed worker\'s spans on the coordinator clock, named with their phase, ordered, a parent before its child', () => {
    const t = rankTrace(1, [[SPAN.attention, 5, 7.5, PHASE.fwd, 0, 1, 0], [SPAN.step, 0, 20], [SPAN.embedding, 0, 1, PHASE.fwd]], { skewMs: 500, upMs: 2, downMs: 2 });
    const spans = alignedSpans(t, clockOffsetMs(t));
    expect(spans.map((s) => s.name)).toEqual(['step', 'embedding fwd', 'attention fwd']);
    expect(spans[0]).toEqual({ name: 'step', cat: 'step', ts: 1.7e12 + 10, dur: 20 });
    expect(spans[2]).toEqual({ name: 'attention fwd', cat: 'kernel', ts: 1.7e12 + 15, dur: 2.5, layer: 0, hop: 1, phase: 'fwd', peer: 0 });
    expect(Object.keys(spans[1])).toEqual(['name', 'cat', 'ts', 'dur', 'phase']); // absent fields stay absent
  });
});

describe('rank summary', () => {
  it('sums compute and kernels, takes the union of transfers, overlap = 1 - wait/comm', () => {
    const spans = [
      span('step', 0, 100),
      span('segment', 0, 10), span('kernel', 10, 30), span('kernel', 50, 20), span('optimizer', 90, 5),
      span('send', 10, 20), span('recv', 20, 30), // [10, 50): 40 in flight
      span('allreduce', 60, 20), // + 20
      span('wait', 40, 6), span('wait', 80, 9),
    ];
    expect(summarize(spans)).toEqual({ stepMs: 100, computeMs: 65, kernelMs: 50, commMs: 60, waitMs: 15, overlap: 0.75 });
  });

  it('overlap is 1 without communication, and never below 0', () => {
    expect(summarize([span('step', 0, 10), span('kernel', 0, 5)]).overlap).toBe(1);
    expect(summarize([span('send', 0, 1), span('wait', 0, 5)]).overlap).toBe(0);
  });

  it('union of intervals: nested, touching, disjoint', () => {
    expect(unionMs([span('send', 0, 10), span('send', 2, 3), span('recv', 10, 5), span('recv', 20, 1)])).toBe(16);
    expect(unionMs([])).toBe(0);
  });

  it('a straggler takes more than 10% over the median step', () => {
    expect(markStragglers([100, 100, 120])).toEqual([false, false, true]);
    expect(markStragglers([100, 111])).toEqual([false, false]); // median 105.5: 111 < 116.05
    expect(markStragglers([100, 130])).toEqual([false, true]);
    expect(markStragglers([50])).toEqual([false]);
  });
});

/** Two ranks, rank 1's clock 2 s ahead: aligned, their step spans start together. */
function twoRanks(): RankTrace[] {
  const rows = (slow: number): Row[] => [
    [SPAN.step, 0, 100 + slow],
    [SPAN.attention, 10, 30, PHASE.fwd, 0, 0, 0],
    [SPAN.sendKv, 5, 25, PHASE.fwd, 0, 0, 1],
    [SPAN.recvKv, 5, 35, PHASE.fwd, 0, 0, 1],
    [SPAN.sendDkv, 20, 28, PHASE.bwd, 0, 1, 1], // overlaps `send kv` without nesting: a lane of its own
    [SPAN.wait, 30, 35, PHASE.fwd, 0, 0, 1],
    [SPAN.optimizer, 90, 99 + slow],
  ];
  return [rankTrace(0, rows(0)), rankTrace(1, rows(30), { skewMs: 2000 })];
}
const HOSTS = [{ rank: 0, host: 'h0' }, { rank: 1, host: 'h1' }];
const hostOf = (r: number) => HOSTS[r].host;

describe('trace.jsonl line', () => {
  it('per rank: host, offset, summary with the straggler, aligned spans', () => {
    const line = traceLine(10, Date.UTC(2026, 11, 5, 12), 140, twoRanks(), hostOf);
    expect(line).toMatchObject({ step: 10, time: '2026-12-05T12:00:00.000Z', stepMs: 140 });
    expect(line.ranks.map((r) => [r.rank, r.host, r.offsetMs, r.offsetErrorMs, r.summary.straggler])).toEqual([[0, 'h0', 0, 1, false], [1, 'h1', 2000, 1, true]]);
    expect(line.ranks[1].summary).toMatchObject({ stepMs: 130, kernelMs: 20, commMs: 30, waitMs: 5 });
    const starts = line.ranks.map((r) => r.spans[0]);
    expect(starts.map((s) => s.name)).toEqual(['step', 'step']);
    expect(Math.abs(starts[0].ts - starts[1].ts)).toBeLessThan(1e-6);
    const roundTrip = JSON.parse(JSON.stringify(line));
    expect(roundTrip).toEqual(line);
  });
});

describe('Chrome trace JSON', () => {
  const lines = [traceLine(10, 1.7e12, 140, twoRanks(), hostOf), traceLine(20, 1.7e12 + 500, 140, twoRanks(), hostOf)];
  const doc = JSON.parse(JSON.stringify(chromeTrace(lines))) as { traceEvents: ChromeEvent[]; displayTimeUnit: string };
  const complete = doc.traceEvents.filter((e) => e.ph === 'X');

  it('one process per rank, named "rank N (host)"', () => {
    expect(doc.displayTimeUnit).toBe('ms');
    const names = doc.traceEvents.filter((e) => e.name === 'process_name');
    expect(names.map((e) => [e.pid, e.args.name])).toEqual([[0, 'rank 0 (h0)'], [1, 'rank 1 (h1)']]);
    expect(new Set(complete.map((e) => e.pid))).toEqual(new Set([0, 1]));
  });

  it('complete events in µs with the step and span fields in args', () => {
    expect(complete).toHaveLength(2 * 2 * 7);
    for (const e of complete) {
      expect(Number.isInteger(e.ts)).toBe(true);
      expect(Number.isInteger(e.dur)).toBe(true);
      expect(e.dur).toBeGreaterThanOrEqual(0);
    }
    const kernel = complete.find((e) => e.cat === 'kernel' && e.pid === 1 && e.args.step === 20)!;
    expect(kernel).toMatchObject({ name: 'attention fwd', ts: Math.round((1.7e12 + 10 + 10) * 1000), dur: 20_000, args: { step: 20, layer: 0, hop: 0, phase: 'fwd', peer: 0 } });
  });

  it('spans that overlap without nesting go to threads of their own, each named', () => {
    const tids = (name: string) => new Set(complete.filter((e) => e.name === name && e.pid === 0).map((e) => e.tid));
    const [kv] = tids('send kv fwd');
    const [dkv] = tids('send dkv bwd');
    expect(kv).not.toBe(dkv);
    const threadNames = doc.traceEvents.filter((e) => e.name === 'thread_name' && e.pid === 0).map((e) => e.args.name);
    expect(threadNames).toEqual(expect.arrayContaining(['step', 'compute', 'send', 'send 2', 'recv', 'wait']));
    // On every thread, events either nest or follow one another.
    for (const pid of [0, 1]) {
      const byTid = new Map<number, ChromeEvent[]>();
      for (const e of complete.filter((x) => x.pid === pid)) byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
      for (const events of byTid.values()) {
        for (let i = 1; i < events.length; i++) {
          const [a, b] = [events[i - 1], events[i]];
          expect(b.ts! >= a.ts! + a.dur! || b.ts! + b.dur! <= a.ts! + a.dur!).toBe(true);
        }
      }
    }
  });
});

describe('TraceLog files', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'ringtrain-trace-'));
  const jsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('appends a line per sampled step; trace.json holds the last 50, rewritten without a tmp file left', () => {
    const runDir = dir();
    const log = new TraceLog(runDir, 0);
    expect(existsSync(log.jsonlFile)).toBe(false); // nothing until a step is sampled
    for (let step = 1; step <= CHROME_STEPS + 2; step++) log.add(step * 10, 1.7e12 + step * 1000, 140, twoRanks(), HOSTS);
    expect(jsonl(log.jsonlFile).map((l) => l.step)).toEqual(Array.from({ length: CHROME_STEPS + 2 }, (_, i) => (i + 1) * 10));
    const doc = JSON.parse(readFileSync(log.chromeFile, 'utf8'));
    const steps = new Set(doc.traceEvents.filter((e: ChromeEvent) => e.ph === 'X').map((e: ChromeEvent) => e.args.step));
    expect([...steps]).toEqual(Array.from({ length: CHROME_STEPS }, (_, i) => (i + 3) * 10));
    expect(doc.traceEvents.filter((e: ChromeEvent) => e.name === 'process_name')).toHaveLength(2);
    expect(readdirSync(runDir).sort()).toEqual(['trace.json', 'trace.jsonl']);
  });

  it('a resumed run keeps the lines up to its step (a truncated last line skipped); a new run starts empty', () => {
    const runDir = dir();
    const log = new TraceLog(runDir, 0);
    for (const step of [10, 20, 30]) log.add(step, 1.7e12, 140, twoRanks(), HOSTS);
    appendFileSync(log.jsonlFile, '{"step": 40, "ranks": [{"ra');
    const resumed = new TraceLog(runDir, 20);
    expect(jsonl(resumed.jsonlFile).map((l) => l.step)).toEqual([10, 20]);
    resumed.add(30, 1.7e12, 140, twoRanks(), HOSTS);
    const doc = JSON.parse(readFileSync(resumed.chromeFile, 'utf8'));
    expect(new Set(doc.traceEvents.filter((e: ChromeEvent) => e.ph === 'X').map((e: ChromeEvent) => e.args.step))).toEqual(new Set([10, 20, 30]));
    new TraceLog(runDir, 0);
    expect(readFileSync(resumed.jsonlFile, 'utf8')).toBe('');
  });
});
