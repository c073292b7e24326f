import { isRingtrainError } from '@ringtrain/core';
import { parsePromText, PromFamily } from '../testing/prom-text';
import { RunMetrics, RunSnapshot } from './run-metrics';

const snapshot: RunSnapshot = {
  step: 120,
  loss: 2.375,
  lr: 3e-4,
  gradNorm: 0.875,
  tokensPerSec: 18432.5,
  stepMs: 812.5,
  evalLoss: 2.5,
  taskAccuracy: 0.75,
  checkpoints: 3,
  restarts: 1,
  workers: [
    { rank: 0, host: 'node-a', state: 'busy', rssBytes: 1_500_000_000 },
    { rank: 1, host: 'node "b"\\x', state: 'lost', rssBytes: 1_400_000_000 },
    { rank: 2, host: 'node-c', state: 'ready' },
  ],
};

async function scrape(m: RunMetrics): Promise<Map<string, PromFamily>> {
  return parsePromText(await m.text());
}

/** The one sample of a family without labels, or undefined when it has none. */
function single(families: Map<string, PromFamily>, name: string): number | undefined {
  const family = families.get(name);
  if (!family) throw new Error(`${name} missing`);
  expect(family.samples.length).toBeLessThanOrEqual(1);
  return family.samples[0]?.value;
}

describe('RunMetrics', () => {
  it('exposes every series as strict Prometheus text with its type and help', async () => {
    const m = new RunMetrics();
    m.update(snapshot);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = await scrape(m);
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toEqual({
      ringtrain_step: 'gauge',
      ringtrain_loss: 'gauge',
      ringtrain_learning_rate: 'gauge',
      ringtrain_grad_norm: 'gauge',
      ringtrain_tokens_per_second: 'gauge',
      ringtrain_step_seconds: 'gauge',
      ringtrain_eval_loss: 'gauge',
      ringtrain_task_accuracy: 'gauge',
      ringtrain_worker_rss_bytes: 'gauge',
      ringtrain_worker_up: 'gauge',
      ringtrain_checkpoints_total: 'counter',
      ringtrain_restarts_total: 'counter',
    });
    for (const f of families.values()) expect(f.help).toMatch(/\S/);
    expect(single(families, 'ringtrain_step')).toBe(120);
    expect(single(families, 'ringtrain_loss')).toBe(2.375);
    expect(single(families, 'ringtrain_learning_rate')).toBe(3e-4);
    expect(single(families, 'ringtrain_grad_norm')).toBe(0.875);
    expect(single(families, 'ringtrain_tokens_per_second')).toBe(18432.5);
    expect(single(families, 'ringtrain_step_seconds')).toBe(0.8125);
    expect(single(families, 'ringtrain_eval_loss')).toBe(2.5);
    expect(single(families, 'ringtrain_task_accuracy')).toBe(0.75);
    expect(single(families, 'ringtrain_checkpoints_total')).toBe(3);
    expect(single(families, 'ringtrain_restarts_total')).toBe(1);
  });

  it('labels worker series by rank (and host), escaping the host', async () => {
    const m = new RunMetrics();
    m.update(snapshot);
    const families = await scrape(m);
    expect(families.get('ringtrain_worker_rss_bytes')?.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ rank: '0', host: 'node-a' }, 1_500_000_000],
      [{ rank: '1', host: 'node "b"\\x' }, 1_400_000_000],
    ]);
    expect(families.get('ringtrain_worker_up')?.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ rank: '0' }, 1],
      [{ rank: '1' }, 0],
      [{ rank: '2' }, 1],
    ]);
  });

  it('leaves out values not known yet instead of reporting 0', async () => {
    const m = new RunMetrics();
    let families = await scrape(m);
    expect(single(families, 'ringtrain_loss')).toBeUndefined();
    expect(single(families, 'ringtrain_checkpoints_total')).toBe(0);
    m.update({ step: 0, checkpoints: 0, restarts: 0, workers: [] });
    families = await scrape(m);
    expect(single(families, 'ringtrain_step')).toBe(0);
    expect(single(families, 'ringtrain_eval_loss')).toBeUndefined();
    expect(families.get('ringtrain_worker_up')?.samples).toEqual([]);
  });

  it('follows later snapshots: values replaced, gone workers dropped, totals counted on', async () => {
    const m = new RunMetrics();
    m.update(snapshot);
    m.update({ ...snapshot, step: 121, loss: NaN, evalLoss: undefined, checkpoints: 5, workers: [snapshot.workers[0]] });
    let families = await scrape(m);
    expect(single(families, 'ringtrain_step')).toBe(121);
    expect(single(families, 'ringtrain_loss')).toBeNaN();
    expect(single(families, 'ringtrain_eval_loss')).toBeUndefined();
    expect(single(families, 'ringtrain_checkpoints_total')).toBe(5);
    expect(families.get('ringtrain_worker_up')?.samples).toHaveLength(1);
    m.update({ ...snapshot, checkpoints: 2 }); // a new count: Prometheus reads the drop as a counter reset
    families = await scrape(m);
    expect(single(families, 'ringtrain_checkpoints_total')).toBe(2);
  });

  it('refuses a malformed snapshot with a stable code', () => {
    const m = new RunMetrics();
    const bad: unknown[] = [
      { ...snapshot, step: -1 },
      { ...snapshot, restarts: 0.5 },
      { ...snapshot, loss: '2' },
      { ...snapshot, workers: [snapshot.workers[0], snapshot.workers[0]] },
      { ...snapshot, workers: [{ rank: 0, host: 'h', state: 'ready', rssBytes: -1 }] },
    ];
    for (const s of bad) {
      let error: unknown;
      try {
        m.update(s as RunSnapshot);
      } catch (e) {
        error = e;
      }
      expect(isRingtrainError(error) && error.code).toBe('TELEMETRY_BAD_SNAPSHOT');
    }
  });
});

describe('parsePromText (the strict test parser)', () => {
  it.each([
    ['no final newline', 'a 1'],
    ['a bad value', 'a one\n'],
    ['a bad metric name', '1a 1\n'],
    ['an unquoted label', 'a{x=1} 1\n'],
    ['a bad escape', 'a{x="\\t"} 1\n'],
    ['a repeated series', 'a{x="1"} 1\na{x="1"} 2\n'],
    ['a split family', 'a 1\nb 1\na{x="1"} 1\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['an unknown type', '# TYPE a meter\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => parsePromText(text)).toThrow();
  });

  it('reads escapes, NaN, Inf and timestamps', () => {
    const families = parsePromText('# HELP a x\\ny\\\\\n# TYPE a gauge\na{l="q\\"\\n"} NaN\na{l="2"} -Inf 1700000000000\n');
    const a = families.get('a');
    expect(a?.help).toBe('x\ny\\');
    expect(a?.samples[0].labels).toEqual({ l: 'q"\n' });
    expect(a?.samples[0].value).toBeNaN();
    expect(a?.samples[1]).toEqual({ name: 'a', labels: { l: '2' }, value: -Infinity, timestampMs: 1700000000000 });
  });
});
