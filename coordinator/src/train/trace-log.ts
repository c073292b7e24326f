import { appendFileSync, closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RankTrace } from '../world/replicas';
import { chromeMetadata, chromeStep, type ChromeStep } from './chrome-trace';
import { traceLine, type TraceLine } from './trace-record';

/** Sampled steps trace.json keeps (the dashboard contract). */
export const CHROME_STEPS = 50;

/**
 * The timelines of sampled steps in the run directory: RUN/trace.jsonl, one line per sampled
 * step, appended (a killed run leaves at most a truncated last line); and RUN/trace.json, Chrome
 * trace JSON of the last CHROME_STEPS of them, rewritten atomically (tmp + rename) after each.
 * Which steps are sampled is the training loop's choice (train-run.ts: every traceEvery-th).
 */
export class TraceLog {
  readonly jsonlFile: string;
  readonly chromeFile: string;
  /**
   * The last CHROME_STEPS steps, each with its Chrome events serialised once: trace.json is
   * rewritten from these buffers, never re-serialised (at 1000 spans a rank that is 25 ms a step
   * against 250 ms for building the document again).
   */
  private readonly recent: Array<Omit<ChromeStep, 'events'> & { events: Buffer }> = [];

  /**
   * A resumed run (`resumedAt` > 0) keeps the lines up to its checkpoint's step, and trace.json
   * goes on from them; a new run starts both afresh.
   */
  constructor(runDir: string, resumedAt: number) {
    this.jsonlFile = join(runDir, 'trace.jsonl');
    this.chromeFile = join(runDir, 'trace.json');
    if (!existsSync(this.jsonlFile)) return;
    const kept = resumedAt > 0 ? readLines(this.jsonlFile).filter((l) => l.line.step <= resumedAt) : [];
    writeFileSync(this.jsonlFile, kept.map((l) => l.text + '\n').join(''));
    for (const { line } of kept.slice(-CHROME_STEPS)) this.remember(line);
  }

  /**
   * Records sampled step `step`, started at `startedAtMs` (this process's wall clock, wallClockMs)
   * and timed `stepMs` here, with the ranks' timelines and hosts; returns its line.
   */
  add(step: number, startedAtMs: number, stepMs: number, traces: readonly RankTrace[], hosts: ReadonlyArray<{ rank: number; host: string }>): TraceLine {
    const line = traceLine(step, startedAtMs, stepMs, traces, (rank) => hosts.find((h) => h.rank === rank)?.host ?? 'unknown');
    appendFileSync(this.jsonlFile, JSON.stringify(line) + '\n');
    this.remember(line);
    this.writeChrome();
    return line;
  }

  private remember(line: TraceLine): void {
    const { events, processes, threads } = chromeStep(line);
    this.recent.push({ processes, threads, events: Buffer.from(events.map((e) => JSON.stringify(e)).join(',\n')) });
    if (this.recent.length > CHROME_STEPS) this.recent.shift();
  }

  /** The document chromeTrace() builds, metadata first: written piece by piece to a tmp file, then renamed over trace.json. */
  private writeChrome(): void {
    const meta = chromeMetadata(this.recent).map((e) => JSON.stringify(e)).join(',\n');
    const tmp = `${this.chromeFile}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, `{"displayTimeUnit":"ms","traceEvents":[\n${meta}`);
      let empty = meta.length === 0;
      for (const { events } of this.recent) {
        if (events.length === 0) continue;
        if (!empty) writeAll(fd, ',\n');
        writeAll(fd, events);
        empty = false;
      }
      writeAll(fd, '\n]}\n');
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true }); // a full disk leaves no half-written tmp behind
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.chromeFile);
  }
}

/** writeSync may write less than it was given; this does not. */
function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
}

/** The well-formed lines of trace.jsonl in order; a truncated or foreign line is skipped. */
function readLines(file: string): Array<{ line: TraceLine; text: string }> {
  const out: Array<{ line: TraceLine; text: string }> = [];
  for (const text of readFileSync(file, 'utf8').split('\n')) {
    if (!text.trim()) continue;
    try {
      const v: unknown = JSON.parse(text);
      if (isTraceLine(v)) out.push({ line: v, text });
    } catch {
      // a line cut short by a killed run
    }
  }
  return out;
}

function isTraceLine(v: unknown): v is TraceLine {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>; // an object, checked field by field below
  return typeof o.step === 'number' && Array.isArray(o.ranks) && o.ranks.every((r: unknown) => {
    const rank = r as Record<string, unknown> | null;
    return typeof rank === 'object' && rank !== null && typeof rank.rank === 'number' && typeof rank.host === 'string' && Array.isArray(rank.spans);
  });
}
