import { isLoopbackHost } from './exposure';
import { listenFramed } from './framed-server';
import { startPeerServer } from './peer-server';
import { loadTls } from './load-tls';
import { capturingLogger, SECRET } from '../../testing/ws-test-support';
import { makeTestCertificates } from '../../testing/tls-test-support';

test.each([
  ['127.0.0.1', true],
  ['127.5.6.7', true],
  ['::1', true],
  ['[::1]', true],
  ['0:0:0:0:0:0:0:1', true],
  ['::ffff:127.0.0.1', true],
  ['localhost', true],
  ['LOCALHOST', true],
  ['0.0.0.0', false],
  ['::', false],
  ['10.0.0.5', false],
  ['128.0.0.1', false],
  ['::ffff:10.0.0.1', false],
  ['node-3.cluster', false],
])('isLoopbackHost(%p) is %p', (host, loopback) => {
  expect(isLoopbackHost(host)).toBe(loopback);
});

describe('a server reachable from the network without TLS', () => {
  const cleartext = (lines: Array<{ code?: unknown }>) => lines.filter((l) => l.code === 'CLEARTEXT');

  test('warns once, naming the flags and variables that turn TLS on', async () => {
    const log = capturingLogger();
    const server = await listenFramed({ direction: 'worker-to-coordinator', secret: SECRET, host: '0.0.0.0', logger: log.logger, onConnection: () => undefined });
    await server.close();
    const warnings = cleartext(log.lines) as Array<{ level: string; message: string }>;
    expect(warnings).toHaveLength(1);
    expect(warnings[0].level).toBe('warn');
    expect(warnings[0].message).toContain(`0.0.0.0:${server.port} without TLS`);
    expect(warnings[0].message).toMatch(/job secret and the tensors cross the network in clear/);
    for (const name of ['--tls-cert', '--tls-key', '--tls-ca', 'RINGTRAIN_TLS_CERT', 'RINGTRAIN_TLS_KEY', 'RINGTRAIN_TLS_CA']) expect(warnings[0].message).toContain(name);
  });

  test('stays quiet on loopback, and with TLS', async () => {
    const certs = makeTestCertificates();
    try {
      const tls = loadTls({ cert: certs.cert, key: certs.key })!;
      const log = capturingLogger();
      const local = await startPeerServer({ rank: 0, worldSize: 1, secret: SECRET, host: '127.0.0.1', logger: log.logger });
      const secured = await startPeerServer({ rank: 0, worldSize: 1, secret: SECRET, host: '0.0.0.0', logger: log.logger, tls });
      await Promise.all([local.close(), secured.close()]);
      expect(cleartext(log.lines)).toEqual([]);
    } finally {
      certs.remove();
    }
  });
});
