import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { createLogger, RingtrainError } from '@ringtrain/core';
import { ringTraceFixture } from '../testing/trace-fixture';
import { startDashboard, type Dashboard } from './server';
import type { LiveMessage } from './types';

const logger = createLogger({ name: 'dashboard-test', level: 'error' });
const metric = (step: number) => JSON.stringify({ step, loss: 3, lr: 1e-3, gradNorm: 1, tokens: 256, tokensPerSec: 1000, stepMs: 20 }) + '\n';

function runDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-dash-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ workers: 2 }));
  writeFileSync(join(dir, 'metrics.jsonl'), metric(1) + metric(2));
  writeFileSync(join(dir, 'workers.json'), JSON.stringify([{ rank: 0, host: 'h', state: 'ready', rssBytes: 1000 }, { rank: 1, host: 'h', state: 'lost', rssBytes: null }]));
  return dir;
}

const open: Dashboard[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});
async function serve(opts: Partial<Parameters<typeof startDashboard>[0]> & { runDir: string }): Promise<Dashboard> {
  const d = await startDashboard({ secret: null, logger, pollIntervalMs: 50, ...opts });
  open.push(d);
  return d;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the answers' shapes are what the tests check
type Json = any;

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Json; text: string; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, text, headers: res.headers };
}

function nextMessage(ws: WebSocket, pred: (m: LiveMessage) => boolean, timeoutMs = 5000): Promise<LiveMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no such message')), timeoutMs);
    const on = (data: Buffer) => {
      const m = JSON.parse(data.toString()) as LiveMessage;
      if (pred(m)) {
        clearTimeout(timer);
        ws.off('message', on);
        resolve(m);
      }
    };
    ws.on('message', on);
  });
}

describe('startDashboard', () => {
  it('serves the state, a trace by step, and Prometheus metrics', async () => {
    const dir = runDir();
    writeFileSync(join(dir, 'trace.jsonl'), JSON.stringify(ringTraceFixture({ step: 2, ranks: 2 })) + '\n');
    const d = await serve({ runDir: dir });
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const state = await call(`${d.url}api/state`);
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ readOnly: true, config: { workers: 2 }, metrics: { total: 2 }, trace: { steps: [2] } });
    const trace = await call(`${d.url}api/trace?step=2`);
    expect(trace.body).toMatchObject({ step: 2, ranks: [{ rank: 0 }, { rank: 1 }] });
    expect((await call(`${d.url}api/trace`)).body.step).toBe(2);
    const missing = await call(`${d.url}api/trace?step=5`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/step 5 was not traced; traced steps: 2/);
    expect((await call(`${d.url}api/trace?step=x`)).status).toBe(400);
    const prom = await call(`${d.url}metrics`);
    expect(prom.status).toBe(200);
    expect(prom.text).toMatch(/^ringtrain_step 2$/m);
    expect(prom.text).toMatch(/^ringtrain_loss 3$/m);
    expect(prom.text).toMatch(/^ringtrain_worker_up\{rank="1"\} 0$/m);
    expect((await call(`${d.url}nothing`)).status).toBe(404);
  });

  it('serves the page with everything from this server (no outside URL, a strict CSP)', async () => {
    const d = await serve({ runDir: runDir() });
    const page = await call(d.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.text).toMatch(/<script src="\/assets\/app\.js"/);
    expect(page.text).not.toMatch(/https?:\/\//);
    const js = await call(`${d.url}assets/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.text).not.toMatch(/(src|href)\s*=\s*["']https?:/);
  });

  it('refuses actions read-only (403), without or with a wrong secret (401), and carries them out with it', async () => {
    const ro = await serve({ runDir: runDir() });
    const refused = await call(`${ro.url}api/actions/checkpoint`, { method: 'POST', headers: { 'x-ringtrain-secret': 's3cret' } });
    expect(refused).toMatchObject({ status: 403, body: { ok: false, message: 'read-only: served from files' } });

    const done: string[] = [];
    const live = await serve({ runDir: runDir(), secret: 's3cret', actions: { checkpoint: () => done.push('checkpoint'), stop: () => done.push('stop') } });
    expect((await call(`${live.url}api/actions/checkpoint`, { method: 'POST' })).status).toBe(401);
    const wrong = await call(`${live.url}api/actions/stop`, { method: 'POST', headers: { 'x-ringtrain-secret': 's3cre' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toMatch(/wrong or missing job secret/);
    expect(done).toEqual([]);
    const ok = await call(`${live.url}api/actions/checkpoint`, { method: 'POST', headers: { 'x-ringtrain-secret': 's3cret' } });
    expect(ok).toMatchObject({ status: 202, body: { ok: true, message: expect.stringMatching(/checkpoint requested/) } });
    expect((await call(`${live.url}api/actions/stop`, { method: 'POST', headers: { 'x-ringtrain-secret': 's3cret' } })).status).toBe(202);
    expect(done).toEqual(['checkpoint', 'stop']);
    expect((await call(`${live.url}api/actions/checkpoint`)).status).toBe(405);
    expect((await call(`${live.url}api/actions/explode`, { method: 'POST' })).status).toBe(404);
    // A page of another origin may not call the actions, nor read the state.
    const cross = await call(`${live.url}api/actions/checkpoint`, { method: 'POST', headers: { 'x-ringtrain-secret': 's3cret', origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    expect(done).toEqual(['checkpoint', 'stop']);
  });

  it('refuses a Host that is not a loopback name while bound to loopback (DNS rebinding)', async () => {
    const d = await serve({ runDir: runDir() });
    const port = new URL(d.url).port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/state', headers: { host: `evil.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
    expect((await call(`http://localhost:${port}/api/state`)).status).toBe(200);
  });

  it('pushes a snapshot, then new metrics, workers and traces over /live as they land', async () => {
    const dir = runDir();
    const d = await serve({ runDir: dir });
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}live`, { headers: { origin: d.url.replace(/\/$/, '') } });
    const first = await nextMessage(ws, () => true);
    expect(first).toMatchObject({ type: 'snapshot', state: { metrics: { total: 2 } } });
    const metrics = nextMessage(ws, (m) => m.type === 'metrics');
    appendFileSync(join(dir, 'metrics.jsonl'), metric(3) + '{"step":4');
    expect(await metrics).toEqual({ type: 'metrics', rows: [expect.objectContaining({ step: 3 })] });
    const trace = nextMessage(ws, (m) => m.type === 'trace');
    appendFileSync(join(dir, 'trace.jsonl'), JSON.stringify(ringTraceFixture({ step: 3, ranks: 2 })) + '\n');
    expect(await trace).toMatchObject({ type: 'trace', header: { step: 3, ranks: [{ rank: 0 }, { rank: 1 }] } });
    const workers = nextMessage(ws, (m) => m.type === 'workers');
    writeFileSync(join(dir, 'workers.json'), JSON.stringify([{ rank: 0, host: 'h', state: 'done' }]));
    expect(await workers).toEqual({ type: 'workers', workers: [{ rank: 0, host: 'h', state: 'done' }] });
    ws.close();
  });

  it('drops a /live client that does not read instead of buffering for it', async () => {
    const dir = runDir();
    const warn = jest.spyOn(logger, 'warn');
    const d = await serve({ runDir: dir, maxBufferedBytes: 256 * 1024, pollIntervalMs: 20 });
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}live`);
    await nextMessage(ws, () => true);
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading
    const pad = 'x'.repeat(40_000); // 2 MB a poll: past the kernel's socket buffers in a few polls
    let dropped = false;
    void closed.then(() => (dropped = true));
    let polls = 0;
    for (let i = 0; i < 200 && !dropped; i++, polls++) {
      let text = '';
      for (let k = 0; k < 50; k++) text += JSON.stringify({ step: 10 + i * 50 + k, pad }) + '\n';
      appendFileSync(join(dir, 'metrics.jsonl'), text);
      await new Promise((r) => setTimeout(r, 25));
    }
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await closed;
    expect(dropped).toBe(true);
    expect(polls).toBeLessThan(200);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/dropping a live client that is not reading: \d+ bytes unsent, over the 262144-byte cap/));
    warn.mockRestore();
  });

  it('says a port in use with the port and the fix', async () => {
    const d = await serve({ runDir: runDir() });
    const port = Number(new URL(d.url).port);
    const err = await startDashboard({ runDir: runDir(), port, secret: null, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RingtrainError);
    expect(err).toMatchObject({ code: 'DASHBOARD_PORT_IN_USE', message: expect.stringContaining(`port ${port} is in use`), hint: expect.stringMatching(/--port 0/) });
  });

  it('refuses a run directory that does not exist', async () => {
    await expect(startDashboard({ runDir: join(tmpdir(), 'no-such-run-dir-xyz'), secret: null, logger })).rejects.toMatchObject({ code: 'NOT_A_RUN' });
  });
});
