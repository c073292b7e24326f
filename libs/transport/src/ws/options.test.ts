import { compileWsOptions, WS_DEFAULTS } from './options';
import { startPeerServer } from './peer-server';
import { quietLogger, SECRET } from '../../testing/ws-test-support';

describe('transport options', () => {
  test('defaults are documented values, compiled into a frozen object', () => {
    const c = compileWsOptions();
    expect(c).toEqual(WS_DEFAULTS);
    expect(c.maxFrameBytes).toBe(256 * 1024 * 1024);
    expect(Object.isFrozen(c)).toBe(true);
    expect(compileWsOptions({ heartbeatIntervalMs: 50 }).heartbeatIntervalMs).toBe(50);
  });

  test('an unknown key is rejected with the nearest valid key', () => {
    expect(() => compileWsOptions({ heartbeatIntervalMS: 5 })).toThrow(/did you mean "heartbeatIntervalMs"/);
    expect(() => compileWsOptions({ maxFrameByte: 5 })).toThrow(expect.objectContaining({ code: 'BAD_OPTION', details: { option: 'maxFrameByte', suggestion: 'maxFrameBytes' } }));
  });

  test.each([0, -1, 1.5, Number.NaN, 2 ** 31, '5'])('value %p is rejected', (value) => {
    expect(() => compileWsOptions({ sendHighWaterBytes: value as number })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });

  test('clientMaskKey is "zero" or "random"', () => {
    expect(compileWsOptions({ clientMaskKey: 'random' }).clientMaskKey).toBe('random');
    expect(() => compileWsOptions({ clientMaskKey: 'none' as never })).toThrow(expect.objectContaining({ code: 'BAD_OPTION', details: { option: 'clientMaskKey', value: 'none' } }));
  });

  test('maxQueuedBytes: 2 × maxFrameBytes by default, at least maxFrameBytes, may exceed 2 GiB', () => {
    const MiB = 1024 * 1024;
    expect(WS_DEFAULTS.maxQueuedBytes).toBe(512 * MiB);
    expect(compileWsOptions({ maxFrameBytes: MiB }).maxQueuedBytes).toBe(2 * MiB);
    expect(compileWsOptions({ maxFrameBytes: 2 ** 31 - 1 }).maxQueuedBytes).toBe(2 ** 32 - 2);
    expect(compileWsOptions({ maxQueuedBytes: 4096 * MiB }).maxQueuedBytes).toBe(4096 * MiB);
    expect(compileWsOptions({ maxFrameBytes: MiB, maxQueuedBytes: MiB }).maxQueuedBytes).toBe(MiB);
    expect(() => compileWsOptions({ maxFrameBytes: 2 * MiB, maxQueuedBytes: MiB })).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION', details: { option: 'maxQueuedBytes', value: MiB }, message: expect.stringContaining('at least maxFrameBytes (2097152)') }),
    );
    for (const bad of [0, -1, 1.5, '5', 2 ** 53]) {
      expect(() => compileWsOptions({ maxQueuedBytes: bad as number })).toThrow(expect.objectContaining({ code: 'BAD_OPTION', details: expect.objectContaining({ option: 'maxQueuedBytes' }) }));
    }
    expect(() => compileWsOptions({ maxQueuedByte: 5 })).toThrow(/did you mean "maxQueuedBytes"/);
  });

  test('startPeerServer checks its options before listening', async () => {
    await expect(startPeerServer({ rank: 0, worldSize: 2, secret: SECRET, helloTimeoutMS: 5 } as never)).rejects.toThrow(/did you mean "helloTimeoutMs"/);
    await expect(startPeerServer({ rank: 2, worldSize: 2, secret: SECRET })).rejects.toMatchObject({ code: 'BAD_OPTION', details: { option: 'rank' } });
    await expect(startPeerServer({ rank: 0, worldSize: 2, secret: '' })).rejects.toMatchObject({ code: 'BAD_OPTION', details: { option: 'secret' } });
    await expect(startPeerServer({ rank: 0, worldSize: 2, secret: SECRET, tls: { cert: '' } as never })).rejects.toMatchObject({ code: 'BAD_OPTION', details: { option: 'tls' } });
  });
});

describe('mesh lifecycle', () => {
  test('MESH_TIMEOUT names the missing ranks and closes the server', async () => {
    const server = await startPeerServer({ rank: 1, worldSize: 3, secret: SECRET, logger: quietLogger() });
    const t0 = Date.now();
    const attempt = server.connectMesh([{ rank: 0, host: '127.0.0.1', port: 9 }], { timeoutMs: 300 });
    await expect(attempt).rejects.toMatchObject({ code: 'MESH_TIMEOUT', details: { missing: [0, 2], timeoutMs: 300 } });
    await expect(attempt).rejects.toThrow(/no link to ranks 0, 2/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(server.state).toBe('closed');
  });

  test('connectMesh needs the lower ranks addresses and runs once', async () => {
    const server = await startPeerServer({ rank: 1, worldSize: 2, secret: SECRET, logger: quietLogger() });
    await expect(server.connectMesh([])).rejects.toMatchObject({ code: 'BAD_OPTION', details: { missing: [0] } });
    await expect(server.connectMesh([{ rank: 0, host: '127.0.0.1', port: 9 }])).rejects.toMatchObject({ code: 'BAD_STATE', details: { state: 'closed' } });
  });

  test('a wrong secret fails the mesh at once with AUTH_REJECTED', async () => {
    const logger = quietLogger();
    const r0 = await startPeerServer({ rank: 0, worldSize: 2, secret: SECRET, logger });
    const r1 = await startPeerServer({ rank: 1, worldSize: 2, secret: 'other', logger });
    try {
      const t0 = Date.now();
      await expect(r1.connectMesh([{ rank: 0, host: r0.host, port: r0.port }], { timeoutMs: 5000 })).rejects.toMatchObject({
        code: 'AUTH_REJECTED',
        details: { rank: 1, peer: 0 },
      });
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await r0.close();
    }
  });
});
