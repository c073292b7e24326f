import { PROTOCOL_VERSION, type CoordinatorToWorkerMsg } from '@ringtrain/protocol';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectToCoordinator, startControlServer, type ControlServer } from './control-plane';
import { connectFramed } from './framed-client';
import { listenFramed } from './framed-server';
import { loadTls } from './load-tls';
import { startPeerServer } from './peer-server';
import type { TlsMaterial } from './tls';
import { capturingLogger, f32, quietLogger, randomFloats, SECRET, startMesh } from '../../testing/ws-test-support';
import { makeTestCertificates, type TestCertificates } from '../../testing/tls-test-support';

let certs: TestCertificates;
let tls: TlsMaterial;

beforeAll(() => {
  certs = makeTestCertificates();
  tls = loadTls({ cert: certs.cert, key: certs.key })!;
});
afterAll(() => certs.remove());

describe('loadTls', () => {
  test('reads and checks the files; without a CA the certificate is its own CA', () => {
    expect(tls.cert).toEqual(readFileSync(certs.cert));
    expect(tls.key).toEqual(readFileSync(certs.key));
    expect(tls.ca).toEqual(tls.cert);
    expect(loadTls({ cert: certs.cert, key: certs.key, ca: certs.cert })!.ca).toEqual(tls.cert);
  });

  test('no files: no TLS', () => {
    expect(loadTls({})).toBeNull();
    expect(loadTls({ cert: '', key: undefined })).toBeNull();
  });

  test('a certificate and a key that do not belong together: TLS_KEY_MISMATCH naming both', () => {
    const attempt = () => loadTls({ cert: certs.cert, key: certs.otherKey });
    expect(attempt).toThrow(expect.objectContaining({ code: 'TLS_KEY_MISMATCH', message: `the certificate ${certs.cert} does not match the key ${certs.otherKey}` }));
    expect(attempt).toThrow(expect.objectContaining({ hint: expect.stringMatching(/the key the certificate was made for.*openssl/) }));
  });

  test('a missing file: TLS_FILE naming the path', () => {
    const path = join(certs.dir, 'no-such-cert.pem');
    expect(() => loadTls({ cert: path, key: certs.key })).toThrow(expect.objectContaining({ code: 'TLS_FILE', message: expect.stringContaining(path), details: expect.objectContaining({ path, errno: 'ENOENT' }) }));
    expect(() => loadTls({ cert: certs.cert, key: certs.key, ca: path })).toThrow(expect.objectContaining({ code: 'TLS_FILE', details: expect.objectContaining({ path }) }));
  });

  test('half of the material: TLS_INCOMPLETE', () => {
    expect(() => loadTls({ cert: certs.cert })).toThrow(expect.objectContaining({ code: 'TLS_INCOMPLETE', message: expect.stringMatching(/private key/) }));
    expect(() => loadTls({ key: certs.key })).toThrow(expect.objectContaining({ code: 'TLS_INCOMPLETE', message: expect.stringMatching(/certificate/) }));
    expect(() => loadTls({ ca: certs.cert })).toThrow(expect.objectContaining({ code: 'TLS_INCOMPLETE' }));
  });

  test('files that are not what they claim: TLS_BAD_PEM', () => {
    expect(() => loadTls({ cert: certs.key, key: certs.key })).toThrow(expect.objectContaining({ code: 'TLS_BAD_PEM', message: expect.stringContaining(`${certs.key} is not a PEM certificate`) }));
    expect(() => loadTls({ cert: certs.cert, key: certs.cert })).toThrow(expect.objectContaining({ code: 'TLS_BAD_PEM', message: expect.stringContaining('private key') }));
  });

  test('a CA that did not sign the certificate: TLS_CA_MISMATCH', () => {
    expect(() => loadTls({ cert: certs.cert, key: certs.key, ca: certs.otherCert })).toThrow(expect.objectContaining({ code: 'TLS_CA_MISMATCH' }));
  });

  test('material passed directly is checked the same way', async () => {
    const wrong = { cert: tls.cert, key: readFileSync(certs.otherKey) };
    await expect(startControlServer({ secret: SECRET, logger: quietLogger(), onConnection: () => undefined, tls: wrong })).rejects.toMatchObject({ code: 'TLS_KEY_MISMATCH' });
    await expect(startPeerServer({ rank: 0, worldSize: 1, secret: SECRET, tls: { cert: 'nope', key: tls.key } })).rejects.toMatchObject({ code: 'TLS_BAD_PEM' });
  });
});

describe('the control plane over wss://', () => {
  let server: ControlServer;
  let log: ReturnType<typeof capturingLogger>;

  beforeEach(async () => {
    log = capturingLogger();
    server = await startControlServer({
      secret: SECRET,
      logger: log.logger,
      tls,
      onConnection: (conn) => conn.onMessage((msg) => void conn.send({ t: 'shutdown', reason: `got ${msg.t}` })),
    });
  });
  afterEach(() => server.close());

  test('a worker trusting the job CA completes a round trip', async () => {
    expect(server.url).toBe(`wss://127.0.0.1:${server.port}/`);
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger(), tls }); // a whole TlsMaterial fits
    await worker.send({ t: 'register', v: PROTOCOL_VERSION, rank: null, host: '127.0.0.1', dataPort: 4000, pid: process.pid });
    const reply = await worker.messages().next();
    expect(reply.value as CoordinatorToWorkerMsg).toEqual({ t: 'shutdown', reason: 'got register' });
    await worker.close();
    expect(server.refusedAttempts).toBe(0);
  });

  test('a client with a different CA is refused with TLS_UNTRUSTED', async () => {
    const attempt = connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger(), tls: { ca: readFileSync(certs.otherCert) }, retryForMs: 2000 });
    await expect(attempt).rejects.toMatchObject({ code: 'TLS_UNTRUSTED', message: expect.stringContaining('is not signed by the CA given') });
    await expect(attempt).rejects.toMatchObject({ hint: expect.stringContaining('--tls-ca') });
    expect(server.connections.size).toBe(0);
  });

  test('a plain ws:// client fails cleanly and the server says why', async () => {
    const plainUrl = server.url.replace('wss://', 'ws://');
    const attempt = connectFramed({ url: plainUrl, secret: SECRET, direction: 'coordinator-to-worker', logger: quietLogger() });
    await expect(attempt).rejects.toMatchObject({ code: 'CONNECT_FAILED', hint: expect.stringContaining('wss://') });
    await waitFor(() => server.refusedAttempts === 1);
    expect(log.lines.find((l) => l.code === 'CONNECTION_REFUSED')?.message).toMatch(/TLS handshake failed: it spoke plain HTTP/);
    expect(server.connections.size).toBe(0);
  });

  test('tls with a ws:// url is refused before dialing', async () => {
    await expect(connectToCoordinator({ url: server.url.replace('wss://', 'ws://'), secret: SECRET, tls })).rejects.toMatchObject({ code: 'BAD_OPTION', details: { option: 'url' } });
  });
});

test('a wss:// client to a plain server fails with TLS_HANDSHAKE', async () => {
  const plain = await listenFramed({ direction: 'worker-to-coordinator', secret: SECRET, logger: quietLogger(), onConnection: () => undefined });
  try {
    const attempt = connectToCoordinator({ url: plain.url.replace('ws://', 'wss://'), secret: SECRET, logger: quietLogger(), tls });
    await expect(attempt).rejects.toMatchObject({ code: 'TLS_HANDSHAKE', hint: expect.stringContaining('does not speak TLS') });
  } finally {
    await plain.close();
  }
});

describe('the peer mesh over wss://', () => {
  test('every pair exchanges tensors intact', async () => {
    const mesh = await startMesh(3, { tls });
    try {
      expect(mesh.servers.every((s) => s.url.startsWith('wss://'))).toBe(true);
      const [t0, t1, t2] = mesh.transports;
      const x = f32(randomFloats(100_003, 3));
      await Promise.all([t1.send(0, { tag: 'up', tensors: { x } }), t0.send(2, { tag: 'down', tensors: { x } }), t2.send(1, { tag: 'side', tensors: { x } })]);
      for (const got of [await t0.recv(1, 'up'), await t2.recv(0, 'down'), await t1.recv(2, 'side')]) {
        const data = got.tensors.x.data;
        expect(Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(Buffer.from(x.data.buffer))).toBe(true);
      }
    } finally {
      await mesh.close();
    }
  });

  test('a rank with another certificate cannot join: TLS_UNTRUSTED at once', async () => {
    const logger = quietLogger();
    const other = loadTls({ cert: certs.otherCert, key: certs.otherKey })!;
    const r0 = await startPeerServer({ rank: 0, worldSize: 2, secret: SECRET, logger, tls });
    const r1 = await startPeerServer({ rank: 1, worldSize: 2, secret: SECRET, logger, tls: other });
    try {
      const t0 = Date.now();
      await expect(r1.connectMesh([{ rank: 0, host: r0.host, port: r0.port }], { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'TLS_UNTRUSTED', details: { rank: 1, peer: 0 } });
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await r0.close();
    }
  });
});

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
