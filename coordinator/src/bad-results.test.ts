import { createLogger } from '@ringtrain/core';
import { PROTOCOL_VERSION, bulkChunks, bulkIndexOf, type Bulk, type ChunkPiece, type JobMsg, type WorkerToCoordinatorMsg } from '@ringtrain/protocol';
import { connectToCoordinator, type CoordinatorConnection } from '@ringtrain/transport';
import { Coordinator } from './coordinator';

/**
 * A worker that breaks the protocol in its answer — a result of the wrong shape, a chunk stream
 * that stops half way, repeats or skips a chunk, or sends more than it announced — fails the
 * job with a coded error and loses its connection; the coordinator's process goes on, and no
 * partial result is handed to the caller.
 */
const SECRET = 'bad-results-test-secret';
const logger = createLogger({ name: 'bad-results-test', level: 'error' });

/** A coordinator with one in-process fake worker that has registered and reported ready. */
async function worldOfOne(): Promise<{ coordinator: Coordinator; worker: CoordinatorConnection; nextJob: () => Promise<JobMsg> }> {
  const coordinator = await Coordinator.start({ worldSize: 1, secret: SECRET, rendezvousTimeoutMs: 10000, jobTimeoutMs: 10000, logger });
  const worker = await connectToCoordinator({ url: coordinator.url, secret: SECRET, retryForMs: 5000, label: 'coordinator', logger });
  const messages = worker.messages();
  await worker.send({ t: 'register', v: PROTOCOL_VERSION, rank: 0, host: '127.0.0.1', dataPort: 1, pid: process.pid });
  expect((await messages.next()).value).toMatchObject({ t: 'world' });
  await worker.send({ t: 'ready', rank: 0 });
  await coordinator.waitForWorld();
  const nextJob = async () => {
    const m = (await messages.next()).value;
    if (m?.t !== 'job') throw new Error(`expected a job, got ${m?.t}`);
    return m;
  };
  return { coordinator, worker, nextJob };
}

const state: Bulk = new Map([
  ['a', { dtype: 'float32', shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => i) }],
  ['b', { dtype: 'float32', shape: [9], data: new Float32Array(9).fill(2) }],
]);
const hash = 'f'.repeat(64);

type Answer = (job: JobMsg) => WorkerToCoordinatorMsg[];

const withStream = (mangle: (pieces: ChunkPiece[]) => ChunkPiece[]): Answer => (job) => [
  { t: 'result', jobId: job.jobId, tensors: [], meta: { hash, optimizerStep: 0 }, bulk: bulkIndexOf(state) },
  ...mangle([...bulkChunks(state, 16)]).map((p): WorkerToCoordinatorMsg => ({ t: 'result-chunk', jobId: job.jobId, ...p })),
];

const cases: Array<[string, Answer, string]> = [
  ['a result without its required meta', (job) => [{ t: 'result', jobId: job.jobId, tensors: [], meta: { optimizerStep: 0 } }], 'BAD_RESULT'],
  ['a result with a field of the wrong type', (job) => [{ t: 'result', jobId: job.jobId, tensors: [], meta: { hash, optimizerStep: -1 } }], 'BAD_RESULT'],
  ['a stream that stops half way', withStream((p) => [...p.slice(0, 3), { ...p[3], last: true }]), 'BAD_STREAM'],
  ['a repeated chunk', withStream((p) => [p[0], p[0], ...p.slice(1)]), 'BAD_STREAM'],
  ['a skipped chunk', withStream((p) => [p[0], ...p.slice(2)]), 'BAD_STREAM'],
  ['a stream with more bytes than it announced', withStream((p) => [...p.slice(0, -1), { ...p[p.length - 1], bytes: new Uint8Array(32) }]), 'BAD_STREAM'],
  ['a chunk without a stream', (job) => [{ t: 'result-chunk', jobId: job.jobId, seq: 0, bytes: new Uint8Array(4), last: true }], 'BAD_STREAM'],
];

describe('a worker that answers a job wrongly', () => {
  it.each(cases)('%s: coded error, its connection closed, nothing returned, the coordinator alive', async (_, answer, code) => {
    const { coordinator, worker, nextJob } = await worldOfOne();
    try {
      const result = coordinator.runJob('get-state', [{ params: { send: true, optimizer: false }, tensors: {} }]);
      const caught = result.then(() => null, (e: unknown) => e);
      const job = await nextJob();
      expect(job.kind).toBe('get-state');
      for (const msg of answer(job)) await worker.send(msg).catch(() => undefined);
      expect(await caught).toMatchObject({ code });
      const closed = await worker.closed;
      expect(closed.by).toBe('remote');
      expect(closed.reason).toMatch(new RegExp(`^${code}`));
    } finally {
      await coordinator.shutdown('test done');
    }
  });

  it('a rank that fails while the coordinator is still streaming it a state: the job rejects with that code, the stream stops, nothing is unhandled', async () => {
    const { coordinator, worker, nextJob } = await worldOfOne();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const big: Bulk = new Map([['w', { dtype: 'float32', shape: [8 * 2 ** 20], data: new Float32Array(8 * 2 ** 20) }]]); // 32 MiB: several chunks
      const caught = coordinator.runJob('set-state', [{ params: {}, tensors: {}, bulk: big }]).then(() => null, (e: unknown) => e);
      const job = await nextJob();
      await worker.send({ t: 'failed', jobId: job.jobId, code: 'STATE_MISMATCH', message: 'not this model' });
      expect(await caught).toMatchObject({ code: 'STATE_MISMATCH' });
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await coordinator.shutdown('test done');
      await worker.close();
    }
  });

  it('a well-formed stream is returned whole, with its shapes', async () => {
    const { coordinator, worker, nextJob } = await worldOfOne();
    try {
      const result = coordinator.runJob('get-state', [{ params: { send: true, optimizer: false }, tensors: {} }]);
      const job = await nextJob();
      for (const msg of withStream((p) => p)(job)) await worker.send(msg);
      const [r] = await result;
      expect(r.meta).toEqual({ hash, optimizerStep: 0 });
      expect(r.bulk!.get('a')).toEqual(state.get('a'));
      expect(r.bulk!.get('b')).toEqual(state.get('b'));
    } finally {
      await coordinator.shutdown('test done');
      await worker.close();
    }
  });
});
