import { spawn } from 'node:child_process';
import { createLogger } from '@ringtrain/core';
import { OPTIM_DEFAULTS, resolveModel } from '@ringtrain/config';
import { bulkChunks, bulkIndexOf, type Bulk, type ChunkPiece, type CoordinatorToWorkerMsg, type WorkerToCoordinatorMsg } from '@ringtrain/protocol';
import { startControlServer, type ConnectionClosed, type WorkerConnection } from '@ringtrain/transport';
import { paramSpecs } from '@ringtrain/worker';
import { CLI } from './testing/cli';

/**
 * A real worker process under a coordinator that sends it bad jobs: an unknown kind, params of
 * the wrong type, or a set-state whose chunk stream breaks off, repeats or skips a chunk. Each
 * is answered with a coded error, the connection is closed, and the worker ends with that code
 * on one line (no stack trace). A broken set-state stream never reaches the replica: the same
 * worker, given the complete stream afterwards, loads it and reports its hash.
 */
const SECRET = 'bad-jobs-test-secret';
const logger = createLogger({ name: 'bad-jobs-test', level: 'error' });
const model = resolveModel('tiny');
const initParams = { model: { ...model }, optim: { ...OPTIM_DEFAULTS, totalSteps: 1 }, seed: 1, strategy: 'ring' };
const trainInit: CoordinatorToWorkerMsg = { t: 'job', jobId: 'init-1', kind: 'train-init', params: initParams, tensors: [] };

interface Session {
  send: (msg: CoordinatorToWorkerMsg) => Promise<unknown>;
  next: () => Promise<WorkerToCoordinatorMsg>;
  closed: Promise<ConnectionClosed>;
  exit: Promise<{ code: number | null; stderr: string }>;
  stop: () => Promise<void>;
}

/** Starts a fake coordinator and one real worker, and forms a world of one. */
async function session(formWorld = true): Promise<Session> {
  let accept!: (c: WorkerConnection) => void;
  const connected = new Promise<WorkerConnection>((r) => (accept = r));
  const server = await startControlServer({ secret: SECRET, host: '127.0.0.1', port: 0, logger, onConnection: (c) => accept(c) });
  const child = spawn(process.execPath, [CLI, 'worker', '--coordinator', server.url, '--backend', 'cpu'], {
    env: { ...process.env, RINGTRAIN_SECRET: SECRET, RANK: '0', WORLD_SIZE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; stderr: string }>((r) => child.on('close', (code) => r({ code, stderr })));
  const conn = await connected;
  const inbox: WorkerToCoordinatorMsg[] = [];
  let wake: (() => void) | null = null;
  conn.onMessage((m) => {
    inbox.push(m);
    wake?.();
  });
  const next = async () => {
    while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
    return inbox.shift()!;
  };
  const register = await next();
  if (register.t !== 'register') throw new Error(register.t);
  if (formWorld) await conn.send({ t: 'world', rank: 0, worldSize: 1, peers: [{ rank: 0, host: '127.0.0.1', port: register.dataPort }] });
  if (formWorld) expect(await next()).toMatchObject({ t: 'ready' });
  return {
    send: (m) => conn.send(m),
    next,
    closed: conn.closed,
    exit,
    stop: async () => {
      child.kill('SIGKILL');
      await server.close();
    },
  };
}

function stateOf(): Bulk {
  return new Map(paramSpecs(model).map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    return [s.name, { dtype: 'float32' as const, shape: s.shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i)) }];
  }));
}

const setState = (jobId: string, state: Bulk): CoordinatorToWorkerMsg => ({ t: 'job', jobId, kind: 'set-state', params: {}, tensors: [], bulk: bulkIndexOf(state) });
const chunks = (jobId: string, pieces: ChunkPiece[]): CoordinatorToWorkerMsg[] => pieces.map((p) => ({ t: 'job-chunk', jobId, ...p }));

describe('a worker given bad jobs', () => {
  const refused: Array<[string, (s: Session) => Promise<unknown>, string]> = [
    ['a job of an unknown kind', (s) => s.send({ t: 'job', jobId: 'x-1', kind: 'mine-bitcoin', params: {}, tensors: [] }), 'UNKNOWN_JOB'],
    ['params of the wrong type', (s) => s.send({ t: 'job', jobId: 'init-2', kind: 'train-init', params: { ...initParams, seed: 'one' }, tensors: [] }), 'BAD_JOB'],
    ['a state stream that stops half way', async (s) => {
      const st = stateOf();
      const p = [...bulkChunks(st, 256)];
      for (const m of [setState('set-1', st), ...chunks('set-1', [...p.slice(0, 2), { ...p[2], last: true }])]) await s.send(m);
    }, 'BAD_STREAM'],
    ['a state stream that repeats a chunk', async (s) => {
      const st = stateOf();
      const p = [...bulkChunks(st, 256)];
      for (const m of [setState('set-1', st), ...chunks('set-1', [p[0], p[0]])]) await s.send(m);
    }, 'BAD_STREAM'],
    ['a state stream that skips a chunk', async (s) => {
      const st = stateOf();
      const p = [...bulkChunks(st, 256)];
      for (const m of [setState('set-1', st), ...chunks('set-1', [p[0], p[2]])]) await s.send(m);
    }, 'BAD_STREAM'],
  ];

  it.each(refused)('%s: a coded error, the connection closed, one line naming the code', async (_, act, code) => {
    const s = await session();
    try {
      await s.send(trainInit);
      expect(await s.next()).toMatchObject({ t: 'result', jobId: 'init-1' });
      await act(s);
      const closed = await s.closed;
      expect(closed.reason).toMatch(new RegExp(`^${code}`));
      const { code: exitCode, stderr } = await s.exit;
      expect(exitCode).toBe(2); // a coded error (1 is kept for internal errors)
      expect(stderr).toMatch(new RegExp(`ringtrain: \\[${code}\\]|${code}`));
      expect(stderr).not.toMatch(/internal error|\n\s+at /);
    } finally {
      await s.stop();
    }
  }, 60000);

  it('a job before the world has formed gets BAD_STATE naming the worker\'s state', async () => {
    const s = await session(false);
    try {
      await s.send(trainInit);
      expect(await s.next()).toMatchObject({ t: 'failed', jobId: 'init-1', code: 'BAD_STATE', message: expect.stringMatching(/while worker 0 is registered/) });
    } finally {
      await s.stop();
    }
  }, 60000);

  it('loads a complete state stream in 256-byte chunks and reports the hash of exactly that state', async () => {
    const s = await session();
    try {
      await s.send(trainInit);
      const init = await s.next();
      const st = stateOf();
      for (const m of [setState('set-1', st), ...chunks('set-1', [...bulkChunks(st, 256)])]) await s.send(m);
      const loaded = await s.next();
      expect(loaded).toMatchObject({ t: 'result', jobId: 'set-1' });
      const initHash = init.t === 'result' ? init.meta.hash : null;
      const loadedHash = loaded.t === 'result' ? loaded.meta.hash : null;
      expect(loadedHash).not.toBe(initHash);
      const { createHash } = await import('node:crypto');
      const h = createHash('sha256');
      for (const t of st.values()) h.update(new Uint8Array(t.data.buffer));
      expect(loadedHash).toBe(h.digest('hex'));
    } finally {
      await s.stop();
    }
  }, 60000);
});
