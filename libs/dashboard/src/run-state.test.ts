import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ringTraceFixture } from '../testing/trace-fixture';
import { Decimated } from './decimate';
import { RunState } from './run-state';
import type { LiveMessage } from './types';

const runDir = () => mkdtempSync(join(tmpdir(), 'ringtrain-state-'));
const metric = (step: number, extra: object = {}) => JSON.stringify({ step, loss: 5 - step / 100, lr: 1e-3, gradNorm: 1, tokens: 256, tokensPerSec: 1000, stepMs: 20, ...extra }) + '\n';
const types = (ms: LiveMessage[]) => ms.map((m) => m.type);

describe('RunState', () => {
  it('builds the state of a run directory with only config and metrics (no trace, workers or events)', async () => {
    const dir = runDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ workers: 2, seqLen: 256 }));
    writeFileSync(join(dir, 'metrics.jsonl'), metric(1) + metric(2) + '{"step":3,"lo');
    const state = new RunState(dir);
    await state.poll();
    const s = state.snapshot();
    expect(s.config).toEqual({ workers: 2, seqLen: 256 });
    expect(s.metrics.rows.map((r) => r.step)).toEqual([1, 2]);
    expect(s).toMatchObject({ readOnly: true, summary: null, workers: null, lock: null, checkpointDirs: null, eval: [], checkpoints: [], restarts: [], events: [], problems: [] });
    expect(s.trace).toEqual({ steps: [], latest: null });
  });

  it('is an empty state for an empty directory, and never fails on missing files', async () => {
    const state = new RunState(runDir());
    expect(await state.poll()).toEqual([]);
    expect(state.snapshot()).toMatchObject({ config: null, metrics: { rows: [], stride: 1, total: 0 }, trace: { steps: [], latest: null } });
  });

  it('polls changes into messages: new metrics, list lines, workers, a completed truncated line', async () => {
    const dir = runDir();
    writeFileSync(join(dir, 'config.json'), '{}');
    const state = new RunState(dir);
    await state.poll();
    appendFileSync(join(dir, 'metrics.jsonl'), metric(1) + '{"step":2,"lo');
    appendFileSync(join(dir, 'events.jsonl'), JSON.stringify({ time: '2026-12-05T00:00:00Z', kind: 'start', message: 'go' }) + '\n');
    writeFileSync(join(dir, 'workers.json'), JSON.stringify([{ rank: 0, host: 'h', state: 'ready' }]));
    let ms = await state.poll();
    expect(types(ms).sort()).toEqual(['append', 'metrics', 'workers']);
    expect(ms.find((m) => m.type === 'metrics')).toEqual({ type: 'metrics', rows: [expect.objectContaining({ step: 1 })] });
    appendFileSync(join(dir, 'metrics.jsonl'), 'ss":4.9}\n');
    ms = await state.poll();
    expect(ms).toEqual([{ type: 'metrics', rows: [{ step: 2, loss: 4.9 }] }]);
    expect(await state.poll()).toEqual([]); // workers.json unchanged: nothing
  });

  it('says a metrics rollback (a restart wrote steps again) with a fresh snapshot in which the later record wins', async () => {
    const dir = runDir();
    writeFileSync(join(dir, 'metrics.jsonl'), metric(1) + metric(2) + metric(3));
    const state = new RunState(dir);
    await state.poll();
    appendFileSync(join(dir, 'metrics.jsonl'), metric(2, { loss: 9 }));
    const ms = await state.poll();
    expect(types(ms)).toEqual(['snapshot']);
    const rows = state.snapshot().metrics.rows;
    expect(rows.map((r) => [r.step, r.loss])).toEqual([[1, 4.99], [2, 9]]);
  });

  it('decimates long runs to every n-th step plus the latest', async () => {
    const dir = runDir();
    let text = '';
    for (let s = 1; s <= 1001; s++) text += metric(s);
    writeFileSync(join(dir, 'metrics.jsonl'), text);
    const state = new RunState(dir, { maxPoints: 100 });
    await state.poll();
    const m = state.snapshot().metrics;
    expect(m.total).toBe(1001);
    expect(m.stride).toBe(16);
    expect(m.rows.length).toBeLessThanOrEqual(101);
    expect(m.rows[m.rows.length - 1].step).toBe(1001);
    expect(m.rows.slice(0, -1).every((r) => r.step % 16 === 0)).toBe(true);
  });

  it('indexes trace.jsonl by step and reads a traced step back; a torn last trace line is not listed', async () => {
    const dir = runDir();
    const t10 = ringTraceFixture({ step: 10, ranks: 2 });
    const t20 = ringTraceFixture({ step: 20, ranks: 2, slowRank: 1 });
    writeFileSync(join(dir, 'trace.jsonl'), JSON.stringify(t10) + '\n' + JSON.stringify(t20) + '\n' + JSON.stringify(ringTraceFixture({ step: 30, ranks: 2 })).slice(0, 500));
    const state = new RunState(dir);
    await state.poll();
    const s = state.snapshot();
    expect(s.trace.steps).toEqual([10, 20]);
    expect(s.trace.latest).toMatchObject({ step: 20, ranks: [{ rank: 0, spans: t20.ranks[0].spans.length }, { rank: 1, summary: { straggler: true } }] });
    expect(JSON.parse((await state.traceLine(10))!.toString())).toEqual(t10);
    expect(await state.traceLine(30)).toBeNull();
    expect(await state.traceLine(11)).toBeNull();
  });

  it('reports lines it cannot use as problems, once each, and goes on', async () => {
    const dir = runDir();
    writeFileSync(join(dir, 'metrics.jsonl'), metric(1) + 'garbage\n' + '{"loss":1}\n' + metric(2));
    writeFileSync(join(dir, 'workers.json'), '{"not":"a list"}');
    const state = new RunState(dir);
    await state.poll();
    const s = state.snapshot();
    expect(s.metrics.rows.map((r) => r.step)).toEqual([1, 2]);
    expect(s.problems).toEqual([expect.stringMatching(/workers\.json is not what/), expect.stringMatching(/not JSON at byte \d+/), expect.stringMatching(/without a numeric "step"/)]);
  });

  it('lists committed checkpoint directories and the lock holder', async () => {
    const dir = runDir();
    mkdirSync(join(dir, 'checkpoints', 'step-000020'), { recursive: true });
    mkdirSync(join(dir, 'checkpoints', 'step-000040.tmp'), { recursive: true });
    writeFileSync(join(dir, '.ringtrain.lock'), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: 'x' }));
    const state = new RunState(dir);
    await state.poll();
    expect(state.snapshot()).toMatchObject({ checkpointDirs: ['step-000020'], lock: { pid: process.pid, alive: true } });
  });
});

describe('Decimated', () => {
  it('keeps at most maxPoints + 1 points of any run, the latest always', () => {
    const d = new Decimated<{ step: number }>(10);
    for (let s = 1; s <= 1000; s++) {
      d.push({ step: s });
      expect(d.rows().length).toBeLessThanOrEqual(11);
      expect(d.rows()[d.rows().length - 1].step).toBe(s);
    }
    expect(d.stride).toBe(128);
  });
});
