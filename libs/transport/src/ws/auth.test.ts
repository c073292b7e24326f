import { request } from 'node:http';
import { connectFramed } from './framed-client';
import { listenFramed, type FramedServer } from './framed-server';
import { RawPeer, SECRET, quietLogger } from '../../testing/ws-test-support';

describe('authenticated upgrade', () => {
  let server: FramedServer<'worker-to-coordinator'>;
  let accepted = 0;

  beforeAll(async () => {
    server = await listenFramed({
      direction: 'worker-to-coordinator',
      secret: SECRET,
      port: 0,
      logger: quietLogger(),
      onConnection: () => void accepted++,
    });
  });
  afterAll(() => server.close());

  test('reports the bound port for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/`);
  });

  test.each([
    ['a wrong secret', 'not-the-secret'],
    ['a secret differing only in length', `${SECRET}x`],
    ['a missing secret', undefined],
  ])('%s is refused at the upgrade with 401 (AUTH_REJECTED)', async (_name, secret) => {
    const before = accepted;
    const attempt = connectFramed({ url: server.url, secret: secret as string, direction: 'coordinator-to-worker', logger: quietLogger() });
    await expect(attempt).rejects.toMatchObject({ code: 'AUTH_REJECTED', details: { status: 401 } });
    expect(accepted).toBe(before);
  });

  test('the raw answer is HTTP 401 and the socket is closed', async () => {
    await expect(RawPeer.connect(server.url, { secret: 'wrong' })).rejects.toThrow(/401/);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('upgrade', () => reject(new Error('upgraded without a secret')));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
  });

  test('a plain HTTP request gets 426', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: server.port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(426);
  });

  test('the right secret is accepted', async () => {
    const before = accepted;
    const conn = await connectFramed({ url: server.url, secret: SECRET, direction: 'coordinator-to-worker', logger: quietLogger() });
    expect(conn.state).toBe('open');
    await conn.close();
    expect(accepted).toBe(before + 1);
  });

  test('nothing listening: CONNECT_FAILED after retrying for retryForMs', async () => {
    const t0 = Date.now();
    const attempt = connectFramed({ url: 'ws://127.0.0.1:1/', secret: SECRET, direction: 'coordinator-to-worker', retryForMs: 300, logger: quietLogger() });
    await expect(attempt).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});
