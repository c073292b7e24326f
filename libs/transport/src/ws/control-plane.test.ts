import { encodeFrame, PROTOCOL_VERSION, tensorsFromFrames, tensorsToFrames, type CoordinatorToWorkerMsg, type WorkerToCoordinatorMsg } from '@ringtrain/protocol';
import { connectToCoordinator, startControlServer, type ControlServer, type WorkerConnection } from './control-plane';
import { quietLogger, RawPeer, SECRET, within } from '../../testing/ws-test-support';

describe('control plane', () => {
  let server: ControlServer;
  let onConnection: (conn: WorkerConnection) => void;

  beforeEach(async () => {
    server = await startControlServer({ secret: SECRET, logger: quietLogger(), maxQueuedMessages: 4, onConnection: (c) => onConnection(c) });
  });
  afterEach(() => server.close());

  test('register, world, job, result, shutdown round trip', async () => {
    const coordinatorSaw: WorkerToCoordinatorMsg[] = [];
    onConnection = (conn) => {
      void (async () => {
        for await (const msg of conn.messages()) {
          coordinatorSaw.push(msg);
          if (msg.t === 'register') {
            await conn.send({ t: 'world', rank: 0, worldSize: 1, peers: [{ rank: 0, host: msg.host, port: msg.dataPort }] });
            await conn.send({
              t: 'job',
              jobId: 'j1',
              kind: 'double',
              params: { factor: 2, note: 'x' },
              tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) } }),
            });
          }
          if (msg.t === 'result') await conn.send({ t: 'shutdown', reason: 'done' });
        }
      })();
    };
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    await worker.send({ t: 'register', v: PROTOCOL_VERSION, rank: null, host: '127.0.0.1', dataPort: 4000, pid: process.pid });
    const workerSaw: CoordinatorToWorkerMsg['t'][] = [];
    for await (const msg of worker.messages()) {
      workerSaw.push(msg.t);
      if (msg.t === 'job') {
        const x = tensorsFromFrames(msg.tensors).x.data;
        const factor = msg.params.factor as number;
        const y = new Float32Array(x.map((v) => v * factor));
        await worker.send({ t: 'result', jobId: msg.jobId, meta: { ms: 1 }, tensors: tensorsToFrames({ y: { dtype: 'float32', shape: [3], data: y } }) });
      }
      if (msg.t === 'shutdown') break;
    }
    expect(workerSaw).toEqual(['world', 'job', 'shutdown']);
    const result = coordinatorSaw.find((m) => m.t === 'result');
    expect(result && result.t === 'result' && Array.from(tensorsFromFrames(result.tensors).y.data)).toEqual([2, 4, 6]);
    await worker.close();
    expect(await worker.closed).toMatchObject({ by: 'local', error: null, code: 1000 });
  });

  test('frames sent before the receiver attaches its handler are kept', async () => {
    onConnection = (conn) => void conn.send({ t: 'world', rank: 0, worldSize: 1, peers: [] });
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    await new Promise((r) => setTimeout(r, 50));
    const first = await worker.messages().next();
    expect(first.value).toEqual({ t: 'world', rank: 0, worldSize: 1, peers: [] });
    await worker.close();
  });

  test('the worker sees a coordinator that goes away as PEER_CLOSED and later sends reject', async () => {
    let coordinatorSide!: WorkerConnection;
    onConnection = (conn) => (coordinatorSide = conn);
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    await within(1000, (async () => { while (!coordinatorSide) await new Promise((r) => setTimeout(r, 5)); })(), 'accept');
    await coordinatorSide.close(1001, 'coordinator stopping');
    expect(await worker.closed).toMatchObject({ by: 'remote', code: 1001, error: { code: 'PEER_CLOSED' } });
    await expect(worker.send({ t: 'ready', rank: 0 })).rejects.toMatchObject({ code: 'PEER_CLOSED' });
  });

  test('a frame of the wrong direction closes that connection with BAD_FRAME', async () => {
    onConnection = (conn) => conn.onMessage(() => undefined);
    const raw = await RawPeer.connect(server.url, { secret: SECRET });
    raw.sendRaw(encodeFrame({ t: 'shutdown', reason: 'workers do not send this' }));
    expect(await within(2000, raw.closed, 'close')).toMatchObject({ code: 4400, reason: expect.stringMatching(/^BAD_FRAME: .*"shutdown"/) });
  });

  test('a throwing handler closes that connection with HANDLER_FAILED; the server keeps serving', async () => {
    onConnection = (conn) =>
      conn.onMessage(() => {
        throw new Error('boom');
      });
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    await worker.send({ t: 'ready', rank: 0 });
    expect(await within(2000, worker.closed, 'close')).toMatchObject({ code: 4500, error: { code: 'HANDLER_FAILED' } });
    onConnection = (conn) => conn.onMessage((m) => void conn.send({ t: 'shutdown', reason: m.t }));
    const next = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    await next.send({ t: 'ready', rank: 0 });
    expect((await next.messages().next()).value).toEqual({ t: 'shutdown', reason: 'ready' });
    await next.close();
  });

  test('more than maxQueuedMessages unread closes with MAILBOX_FULL', async () => {
    onConnection = () => undefined; // never reads
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    for (let i = 0; i < 6; i++) await worker.send({ t: 'ready', rank: i });
    expect(await within(2000, worker.closed, 'close')).toMatchObject({ code: 4429, error: { code: 'MAILBOX_FULL' } });
  });

  test('a second message handler is refused', async () => {
    onConnection = () => undefined;
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    worker.onMessage(() => undefined);
    expect(() => worker.messages()).toThrow(expect.objectContaining({ code: 'BAD_STATE' }));
    await worker.close();
  });
});
