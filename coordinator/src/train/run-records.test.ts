import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunRecords } from './run-records';
import type { StepMetrics } from './train-run';

describe('RunRecords: events.jsonl and workers.json for people and the dashboard', () => {
  const workers = [0, 1].map((rank) => ({ rank, host: 'h', pid: 100 + rank, backend: 'native', device: 'cpu' }));
  const metrics = { step: 3, tokensPerSec: 1000 } as StepMetrics;
  const read = (dir: string) => ({
    events: readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)),
    workers: JSON.parse(readFileSync(join(dir, 'workers.json'), 'utf8')),
  });

  it('keeps the worker table current through steps, a broken world and the end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-records-'));
    const records = new RunRecords(dir);
    records.event('start', 'coordinator up');
    records.world(workers);
    records.train({ event: 'step', metrics, steps: 10, etaSec: 1, rssBytes: [111, 222] });
    expect(read(dir).workers).toEqual([
      expect.objectContaining({ rank: 0, pid: 100, state: 'ready', rssBytes: 111, tokensPerSec: 500, restarts: 0 }),
      expect.objectContaining({ rank: 1, pid: 101, state: 'ready', rssBytes: 222, tokensPerSec: 500, restarts: 0 }),
    ]);
    records.broke(1, '[WORKER_LOST] worker 1 disconnected');
    expect(read(dir).workers.map((w: { state: string; restarts: number }) => [w.state, w.restarts])).toEqual([['rejoining', 1], ['lost', 1]]);
    records.world(workers);
    records.train({ event: 'checkpoint', record: { step: 3, dir: 'checkpoints/step-000003', bytes: 1, heldMs: 5, writeMs: 9, reason: 'scheduled', time: 'now', rssBytes: 0 } });
    records.train({ event: 'done', summary: { runDir: dir, steps: 10, firstLoss: 5, finalLoss: 4, eval: null, wallSec: 1, stopped: false } });
    const { events, workers: last } = read(dir);
    expect(events.map((e: { kind: string }) => e.kind)).toEqual(['start', 'restart', 'checkpoint', 'done']);
    expect(events[2]).toMatchObject({ step: 3, message: expect.stringContaining('checkpoints/step-000003') });
    expect(last.map((w: { state: string; restarts: number }) => [w.state, w.restarts])).toEqual([['done', 1], ['done', 1]]);
  });

  it('counts the restarts earlier sessions recorded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-records-'));
    writeFileSync(join(dir, 'restarts.jsonl'), '{"restart":1,"of":3,"reason":"x"}\n{"restart":1,"trainingAgainAtStep":4}\n{"restart":2,"of":3,"reason":"y"}\n');
    const records = new RunRecords(dir);
    records.world(workers);
    expect(JSON.parse(readFileSync(join(dir, 'workers.json'), 'utf8'))[0].restarts).toBe(2);
  });
});
