/*
 * The cost of step timelines measured directly, beside trace-overhead.sh's end-to-end runs (whose
 * noise on a shared machine is larger than the effect): a worker's instrumentation point off and
 * on, and the coordinator's work per sampled step (the trace.jsonl line and trace.json rewrite
 * with 50 steps kept). Bundled and run by trace-overhead.sh; by hand:
 *   npx esbuild benchmarks/trace-cost.ts --bundle --platform=node --packages=external \
 *     --tsconfig=tsconfig.base.json --outfile=dist/trace-cost.cjs && node dist/trace-cost.cjs [spans per rank]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PHASE, SPAN, SPAN_COUNT, TRACE_COLUMNS, type SpanCode } from '@ringtrain/protocol';
import { spanEnd, spanStart, traceTransfer, withTrace } from '../worker/src/trace/tracer';
import { TraceLog } from '../coordinator/src/train/trace-log';
import type { RankTrace } from '../coordinator/src/world/replicas';

const nsPer = (n: number, t0: number) => ((performance.now() - t0) * 1e6) / n;

async function workerSide(): Promise<void> {
  const n = 2_000_000;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) spanEnd(SPAN.attention, spanStart(), PHASE.fwd, 1, 2, 3);
  console.log(`off: a span point ${nsPer(n, t0).toFixed(1)} ns`);
  const p = Promise.resolve();
  t0 = performance.now();
  for (let i = 0; i < n; i++) traceTransfer(p, SPAN.sendKv, PHASE.fwd, 1, 0, 1);
  console.log(`off: a transfer point ${nsPer(n, t0).toFixed(1)} ns`);
  const m = 90_000;
  await withTrace(true, async () => {
    t0 = performance.now();
    for (let i = 0; i < m; i++) spanEnd(SPAN.attention, spanStart(), PHASE.fwd, 1, 2, 3);
    console.log(`on: a span ${nsPer(m, t0).toFixed(1)} ns`);
  });
  await withTrace(true, async () => {
    t0 = performance.now();
    await Promise.all(Array.from({ length: m }, () => traceTransfer(p, SPAN.sendKv, PHASE.fwd, 1, 0, 1)));
    console.log(`on: a transfer span ${nsPer(m, t0).toFixed(1)} ns`);
  });
}

/** A rank's trace of `n` spans of every kind, 0.1 ms apart. */
function fakeTrace(rank: number, n: number): RankTrace {
  const width = TRACE_COLUMNS.length;
  const times = new Float32Array(2 * n);
  const codes = new Int32Array(width * n);
  for (let i = 0; i < n; i++) {
    times.set([i * 0.1, i * 0.1 + 0.05], 2 * i);
    codes.set([i === 0 ? SPAN.step : ((i % (SPAN_COUNT - 1)) + 1) as SpanCode, i % 2, i % 4, i % 2, 1 - rank], width * i);
  }
  times[1] = n * 0.1;
  const now = Date.now();
  return { rank, sentAtMs: now, recvAtMs: now + 1, sendAtMs: now + n * 0.1 + 2, receivedAtMs: now + n * 0.1 + 3, originMs: now + 1.5, times, codes, dropped: 0 };
}

function coordinatorSide(spans: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-trace-cost-'));
  const log = new TraceLog(dir, 0);
  const traces = [fakeTrace(0, spans), fakeTrace(1, spans)];
  const hosts = [{ rank: 0, host: 'h' }, { rank: 1, host: 'h' }];
  const ms: number[] = [];
  for (let step = 1; step <= 60; step++) {
    const t0 = performance.now();
    log.add(step * 10, Date.now(), 100, traces, hosts);
    ms.push(performance.now() - t0);
  }
  const steady = ms.slice(50).sort((a, b) => a - b);
  const mib = (f: string) => (statSync(f).size / 2 ** 20).toFixed(1);
  console.log(`coordinator: ${spans} spans × 2 ranks, 50 steps in trace.json: ${steady[steady.length >> 1].toFixed(1)} ms a sampled step (median); trace.json ${mib(log.chromeFile)} MiB, trace.jsonl ${mib(log.jsonlFile)} MiB for 60 steps`);
  rmSync(dir, { recursive: true, force: true });
}

void (async () => {
  await workerSide();
  for (const n of process.argv.slice(2).map(Number).filter((x) => x > 0).concat(process.argv.length > 2 ? [] : [100, 1000])) coordinatorSide(n);
})();
