import { request } from 'node:http';
import { listenFramed } from './framed-server';
import { SECRET_HEADER } from './auth';
import { capturingLogger, SECRET } from '../../testing/ws-test-support';

/** One upgrade attempt with a wrong secret; resolves with the HTTP status. */
function wrongSecret(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      agent: false,
      headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', [SECRET_HEADER]: 'guess' },
    });
    req.on('upgrade', () => reject(new Error('upgraded with a wrong secret')));
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('1000 refused attempts make a bounded number of log lines, and the summary counts the rest', async () => {
  const log = capturingLogger();
  const server = await listenFramed({ direction: 'worker-to-coordinator', secret: SECRET, logger: log.logger, onConnection: () => undefined });
  const attempts = 1000;
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i += 50) {
    statuses.push(...(await Promise.all(Array.from({ length: 50 }, () => wrongSecret(server.port)))));
  }
  expect(statuses.every((s) => s === 401)).toBe(true);
  expect(server.refusedAttempts).toBe(attempts);
  const refusals = () => log.lines.filter((l) => l.code === 'CONNECTION_REFUSED');
  expect(refusals()).toHaveLength(5);
  expect(refusals()[0].message).toMatch(/^refused an upgrade from 127\.0\.0\.1:\d+: wrong job secret \(401\)$/);

  await server.close(); // ends the window early
  const lines = refusals();
  expect(lines).toHaveLength(6);
  expect(lines[5].message).toMatch(new RegExp(`^995 more refused connection attempts on 127\\.0\\.0\\.1:${server.port} in the last \\d+ s$`));
});
