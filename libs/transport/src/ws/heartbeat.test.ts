import { startPeerServer } from './peer-server';
import { f32, quietLogger, RawPeer, SECRET, settle, startMesh, within } from '../../testing/ws-test-support';

describe('heartbeats', () => {
  test('a peer that stops answering pings is declared dead within the timeout', async () => {
    const server = await startPeerServer({ rank: 0, worldSize: 2, secret: SECRET, logger: quietLogger(), heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 });
    try {
      const silent = await RawPeer.linked(server.url, 1, 2, { autoPong: false });
      const transport = await server.connectMesh([], { timeoutMs: 2000 });
      const t0 = Date.now();
      const err = await within(1500, settle(transport.recv(1, 'never')), 'PEER_DEAD');
      const elapsed = Date.now() - t0;
      expect(err).toMatchObject({ code: 'PEER_DEAD', details: { peer: 1, causeCode: 'PEER_DEAD' } });
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(1000);
      expect((await silent.closed).code).toBe(1006); // terminated, no close handshake
      await expect(transport.send(1, { tag: 'x', tensors: {} })).rejects.toMatchObject({ code: 'PEER_DEAD' });
    } finally {
      await server.close();
    }
  });

  test('healthy idle links survive many heartbeat timeouts', async () => {
    const mesh = await startMesh(3, { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 100 });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const [t0, , t2] = mesh.transports;
      await t2.send(0, { tag: 'alive', tensors: { x: f32([7]) } });
      expect((await t0.recv(2, 'alive')).tensors.x.data[0]).toBe(7);
    } finally {
      await mesh.close();
    }
  });
});
