import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/**
 * Sampled step timelines end to end: `train --trace-every 2` on 2 striped workers writes
 * trace.jsonl (steps 2 and 4, every rank's kernels, K/V and dK/dV transfers per layer and hop, on
 * the coordinator's clock) and trace.json (Chrome trace JSON, one process per rank);
 * `--trace-every 0` writes neither.
 */
interface Span { name: string; cat: string; ts: number; dur: number; layer?: number; hop?: number; phase?: string; peer?: number }
interface RankLine { rank: number; host: string; offsetMs: number; offsetErrorMs: number; summary: Record<string, number | boolean>; spans: Span[] }
interface Line { step: number; time: string; stepMs: number; ranks: RankLine[] }

const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-trace-'));
const LAYERS = 2; // the tiny preset
/** µs rounding of start and end each: a span inside another may seem to stick out by this much. */
const EPS = 1e-3;

describe('train --trace-every', () => {
  const runDir = join(tmp(), 'run');
  let lines: Line[] = [];

  beforeAll(async () => {
    const r = await runCli(['train', '--workers', '2', '--strategy', 'striped', '--model', 'tiny', '--seq-len', '256', '--steps', '4', '--trace-every', '2', '--run-dir', runDir], {}, 300000);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    lines = readFileSync(join(runDir, 'trace.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  }, 300000);

  it('trace.jsonl has the sampled steps 2 and 4, every rank with its host, clock offset and summary', () => {
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).traceEvery).toBe(2);
    expect(lines.map((l) => l.step)).toEqual([2, 4]);
    for (const line of lines) {
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
      expect(line.ranks.map((r) => r.rank)).toEqual([0, 1]);
      for (const r of line.ranks) {
        expect(typeof r.host).toBe('string');
        expect(Number.isFinite(r.offsetMs)).toBe(true);
        expect(r.summary).toEqual({
          stepMs: expect.any(Number), computeMs: expect.any(Number), kernelMs: expect.any(Number), commMs: expect.any(Number),
          waitMs: expect.any(Number), overlap: expect.any(Number), straggler: expect.any(Boolean),
        });
        expect(r.summary.overlap).toBeGreaterThanOrEqual(0);
        expect(r.summary.overlap).toBeLessThanOrEqual(1);
      }
    }
  });

  it('each rank has kernel spans for every layer, phase and hop, and K/V and dK/dV sends and receives per hop', () => {
    for (const line of lines) {
      for (const r of line.ranks) {
        const other = 1 - r.rank;
        const has = (f: Partial<Span>) => r.spans.some((s) => Object.entries(f).every(([k, v]) => s[k as keyof Span] === v));
        for (let layer = 0; layer < LAYERS; layer++) {
          for (const phase of ['fwd', 'bwd']) {
            const where = { step: line.step, rank: r.rank, layer, phase };
            // Striped: no block is fully masked, so both hops compute; hop 1 uses the other rank's block.
            expect({ ...where, kernels: [0, 1].map((hop) => has({ cat: 'kernel', layer, phase, hop, peer: hop === 0 ? r.rank : other })) }).toEqual({ ...where, kernels: [true, true] });
            expect({ ...where, kv: [has({ name: `send kv ${phase}`, cat: 'send', layer, hop: 0, peer: other }), has({ name: `recv kv ${phase}`, cat: 'recv', layer, hop: 0, peer: other })] }).toEqual({ ...where, kv: [true, true] });
            expect(has({ cat: 'segment', name: `pre-attention ${phase}`, layer })).toBe(true);
            expect(has({ cat: 'segment', name: `post-attention ${phase}`, layer })).toBe(true);
          }
          expect(has({ name: 'send dkv bwd', layer, hop: 1, peer: other })).toBe(true);
          expect(has({ name: 'recv dkv bwd', layer, hop: 1, peer: other })).toBe(true);
          expect(has({ cat: 'allreduce', layer })).toBe(true);
        }
        expect(has({ cat: 'optimizer' })).toBe(true);
      }
    }
  });

  it('spans are ordered, inside their step span, and the aligned step spans inside the coordinator\'s step and starting together', () => {
    for (const line of lines) {
      const start = Date.parse(line.time);
      for (const r of line.ranks) {
        const [step, ...rest] = r.spans;
        expect(step).toMatchObject({ name: 'step', cat: 'step' });
        expect(r.spans.filter((s) => s.cat === 'step')).toHaveLength(1);
        for (let i = 1; i < r.spans.length; i++) expect(r.spans[i].ts).toBeGreaterThanOrEqual(r.spans[i - 1].ts);
        for (const s of rest) {
          expect(s.dur).toBeGreaterThanOrEqual(0);
          expect({ span: s.name, inside: s.ts >= step.ts - EPS && s.ts + s.dur <= step.ts + step.dur + EPS }).toEqual({ span: s.name, inside: true });
        }
        // The alignment puts the worker's whole job inside the coordinator's send..receive of it.
        expect(step.ts).toBeGreaterThanOrEqual(start - 1);
        expect(step.ts + step.dur).toBeLessThanOrEqual(start + line.stepMs + 1);
      }
      // Both ranks get their job at once; on a busy 2-core machine their processes may still start some ms apart.
      const [a, b] = line.ranks.map((r) => r.spans[0].ts);
      expect(Math.abs(a - b)).toBeLessThan(Math.max(25, 0.1 * line.stepMs));
    }
  });

  it('trace.json is Chrome trace JSON with one process per rank', () => {
    const doc = JSON.parse(readFileSync(join(runDir, 'trace.json'), 'utf8'));
    expect(doc.displayTimeUnit).toBe('ms');
    expect(Array.isArray(doc.traceEvents)).toBe(true);
    const names = doc.traceEvents.filter((e: { ph: string; name: string }) => e.ph === 'M' && e.name === 'process_name');
    expect(names.map((e: { pid: number; args: { name: string } }) => [e.pid, e.args.name])).toEqual([[0, expect.stringMatching(/^rank 0 \(.+\)$/)], [1, expect.stringMatching(/^rank 1 \(.+\)$/)]]);
    const complete = doc.traceEvents.filter((e: { ph: string }) => e.ph === 'X');
    expect(new Set(complete.map((e: { pid: number }) => e.pid))).toEqual(new Set([0, 1]));
    expect(new Set(complete.map((e: { args: { step: number } }) => e.args.step))).toEqual(new Set([2, 4]));
    for (const e of complete) {
      expect(typeof e.ts).toBe('number');
      expect(typeof e.dur).toBe('number');
      expect(typeof e.tid).toBe('number');
    }
    expect(complete).toHaveLength(lines.reduce((n, l) => n + l.ranks.reduce((m, r) => m + r.spans.length, 0), 0));
  });

  it('--trace-every 0 writes no trace files', async () => {
    const off = join(tmp(), 'run');
    const r = await runCli(['train', '--workers', '2', '--strategy', 'striped', '--model', 'tiny', '--seq-len', '128', '--steps', '2', '--trace-every', '0', '--run-dir', off], {}, 300000);
    expect(r.code).toBe(0);
    expect(existsSync(join(off, 'metrics.jsonl'))).toBe(true);
    expect(existsSync(join(off, 'trace.jsonl'))).toBe(false);
    expect(existsSync(join(off, 'trace.json'))).toBe(false);
  }, 300000);
});

describe.each([
  // Ulysses: the all-to-alls are its transfers, one kernel span per local head.
  ['ulysses', { send: 'send all-to-all', recv: 'recv all-to-all', grads: false }],
  // RSA: keys and values circulate (their spans named as the ring's), dK/dV travel back in the backward.
  ['rsa', { send: 'send kv', recv: 'recv kv', grads: true }],
])('train --strategy %s --trace-every 1', (strategy, names) => {
  let line: Line;

  beforeAll(async () => {
    const runDir = join(tmp(), 'run');
    const r = await runCli(['train', '--workers', '2', '--strategy', strategy, '--model', 'tiny', '--seq-len', '128', '--steps', '1', '--trace-every', '1', '--no-dashboard', '--run-dir', runDir], {}, 300000);
    expect(r.code).toBe(0);
    [line] = readFileSync(join(runDir, 'trace.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  }, 300000);

  it('each rank has kernel spans and its strategy\'s transfers to the other rank, for every layer and phase, inside the step', () => {
    expect(line.step).toBe(1);
    expect(line.ranks.map((r) => r.rank)).toEqual([0, 1]);
    for (const r of line.ranks) {
      const other = 1 - r.rank;
      const has = (f: Partial<Span>) => r.spans.some((s) => Object.entries(f).every(([k, v]) => s[k as keyof Span] === v));
      for (let layer = 0; layer < LAYERS; layer++) {
        for (const phase of ['fwd', 'bwd']) {
          const where = { rank: r.rank, layer, phase };
          const found = {
            kernel: has({ cat: 'kernel', layer, phase }),
            send: has({ name: `${names.send} ${phase}`, cat: 'send', layer, peer: other }),
            recv: has({ name: `${names.recv} ${phase}`, cat: 'recv', layer, peer: other }),
          };
          expect({ ...where, ...found }).toEqual({ ...where, kernel: true, send: true, recv: true });
        }
        if (names.grads) expect(has({ name: 'send dkv bwd', layer, peer: other }) && has({ name: 'recv dkv bwd', layer, peer: other })).toBe(true);
      }
      const step = r.spans.find((s) => s.cat === 'step')!;
      for (const s of r.spans) {
        expect(s.ts).toBeGreaterThanOrEqual(step.ts - EPS);
        expect(s.ts + s.dur).toBeLessThanOrEqual(step.ts + step.dur + EPS);
      }
    }
  });
});
