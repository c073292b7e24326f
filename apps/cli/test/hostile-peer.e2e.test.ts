import WebSocket from 'ws';
import { createLogger, SeededRandom } from '@ringtrain/core';
import { Coordinator, LocalLauncher, describeExit } from '@ringtrain/coordinator';
import { errorStats, referenceBackward, referenceForward } from '@ringtrain/kernels';
import { gatherRows, makeLayout, shardRows } from '@ringtrain/layout';
import { SECRET_HEADER } from '@ringtrain/transport';
import { CLI } from './testing/cli';

/**
 * Real worker processes under attack: a wrong or missing secret, a malformed frame and an
 * oversized frame each cost the attacker its one connection (401 or a coded close), while the
 * workers and the coordinator keep running — proven by a correct attention job afterwards.
 */
const SECRET = 'e2e-secret-for-hostile-peers';
const MAX_FRAME = 64 * 1024;

let coordinator: Coordinator;
let launcher: LocalLauncher;

beforeAll(async () => {
  const logger = createLogger({ name: 'hostile-test', level: 'error' });
  coordinator = await Coordinator.start({ worldSize: 2, secret: SECRET, rendezvousTimeoutMs: 60000, jobTimeoutMs: 60000, logger });
  launcher = new LocalLauncher({
    worldSize: 2,
    command: [process.execPath, CLI, 'worker', '--max-frame-bytes', String(MAX_FRAME)],
    coordinatorUrl: coordinator.url,
    secret: SECRET,
    logger,
  });
  launcher.onUnexpectedExit((e) => coordinator.fail(describeExit(e)));
  launcher.start();
  await coordinator.waitForWorld();
});

afterAll(async () => {
  await coordinator?.shutdown('test done');
  await launcher?.stop();
});

function dataPlaneUrl(rank: number): string {
  const p = coordinator.peers[rank];
  return `ws://${p.host}:${p.port}/`;
}

function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => undefined);
  });
}

function connectAndSend(url: string, payload: Buffer): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { [SECRET_HEADER]: SECRET }, perMessageDeflate: false });
    ws.on('open', () => ws.send(payload));
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', () => undefined);
    setTimeout(() => reject(new Error('the server did not close the connection')), 10000).unref();
  });
}

it('refuses a wrong or missing secret at the upgrade with 401', async () => {
  expect(await upgradeStatus(dataPlaneUrl(0), { [SECRET_HEADER]: 'not-the-secret' })).toBe(401);
  expect(await upgradeStatus(dataPlaneUrl(1), {})).toBe(401);
  expect(await upgradeStatus(coordinator.url, { [SECRET_HEADER]: 'nope' })).toBe(401);
});

it('closes a connection that sends a malformed frame with BAD_FRAME', async () => {
  const garbage = Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37]);
  const peer = await connectAndSend(dataPlaneUrl(0), garbage);
  expect(peer.code).toBe(4400);
  expect(peer.reason).toMatch(/^BAD_FRAME/);
  const control = await connectAndSend(coordinator.url, garbage);
  expect(control.code).toBe(4400);
  expect(control.reason).toMatch(/^BAD_FRAME/);
});

it('closes a connection that sends an oversized frame', async () => {
  const closed = await connectAndSend(dataPlaneUrl(1), Buffer.alloc(MAX_FRAME + 1024, 7));
  expect(closed.code).toBe(1009); // ws: message too big
});

it('the attacked workers keep running and still compute exact attention', async () => {
  const S = 13, H = 2, D = 4, causal = true, scale = 0.5;
  const rng = new SeededRandom(5);
  const q = rng.normalArray(S * H * D), k = rng.normalArray(S * H * D), v = rng.normalArray(S * H * D), dout = rng.normalArray(S * H * D);
  const layout = makeLayout('striped', S, 2);
  const perRank = [0, 1].map((r) => {
    const n = layout.shardSize(r);
    const f32 = (a: Float32Array) => ({ dtype: 'float32' as const, shape: [n, H, D], data: shardRows(layout, a, H * D, r) });
    const tensors = { q: f32(q), k: f32(k), v: f32(v), dout: f32(dout), pos: { dtype: 'int32' as const, shape: [n], data: layout.positions(r) } };
    return { params: { strategy: 'striped' as const, seqLen: S, heads: H, kvHeads: H, headDim: D, causal, scale }, tensors };
  });
  const results = await coordinator.runJob('attention', perRank);
  const pos = Int32Array.from({ length: S }, (_, i) => i);
  const dims = { seqQ: S, seqK: S, heads: H, kvHeads: H, headDim: D, posQ: pos, posK: pos, causal, scale };
  const ref = referenceForward({ q, k, v, ...dims });
  const grads = referenceBackward({ q, k, v, dout, ...dims });
  const expected: Record<string, Float32Array> = { out: ref.out, ...grads };
  for (const t of ['out', 'dq', 'dk', 'dv'] as const) {
    const got = gatherRows(layout, results.map((r) => r.tensors[t].data), H * D);
    expect(errorStats(got, expected[t]).rel).toBeLessThan(1e-5);
  }
});
