import type { PeerMessage } from '../transport';
import { f32, i32, randomFloats, settle, startMesh, within } from '../../testing/ws-test-support';

describe('WsTransport: 3-rank mesh on 127.0.0.1', () => {
  test('every pair exchanges tensors both ways with exact bytes', async () => {
    const mesh = await startMesh(3);
    try {
      const [t0, t1, t2] = mesh.transports;
      expect([t0.rank, t1.rank, t2.rank]).toEqual([0, 1, 2]);
      const payload = (from: number, to: number): PeerMessage => ({
        tag: `kv.${from}.${to}`,
        tensors: {
          k: f32(randomFloats(3 * 7 * 5, 10 * from + to), [3, 7, 5]), // odd sizes
          v: f32(randomFloats(13, 100 + from), [13]),
          empty: f32([], [0, 5]),
          pos: i32([0, 1, 2 ** 31 - 1, -(2 ** 31), 42 + from]),
          scalar: f32([Math.PI], []),
        },
        meta: { from, to, hop: 1, final: false, note: 'kv' },
      });
      const sends: Promise<void>[] = [];
      for (const t of mesh.transports) for (let to = 0; to < 3; to++) if (to !== t.rank) sends.push(t.send(to, payload(t.rank, to)));
      await Promise.all(sends);
      for (const t of mesh.transports) {
        for (let from = 0; from < 3; from++) {
          if (from === t.rank) continue;
          const got = await t.recv(from, `kv.${from}.${t.rank}`);
          const want = payload(from, t.rank);
          expect(got.meta).toEqual(want.meta);
          expect(Object.keys(got.tensors).sort()).toEqual(Object.keys(want.tensors).sort());
          for (const [name, w] of Object.entries(want.tensors)) {
            const g = got.tensors[name];
            expect(g.dtype).toBe(w.dtype);
            expect(g.shape).toEqual(w.shape);
            expect(g.data.constructor).toBe(w.data.constructor);
            expect(Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength).equals(Buffer.from(w.data.buffer))).toBe(true);
          }
        }
      }
      const s = t0.stats();
      expect(s.messagesSent).toBe(2);
      expect(s.messagesReceived).toBe(2);
      const tensorBytes = (3 * 7 * 5 + 13 + 1 + 5) * 4;
      expect(s.bytesSent).toBe(2 * tensorBytes);
      expect(s.bytesReceived).toBe(2 * tensorBytes);
      expect(s.frameBytesSent).toBeGreaterThan(s.bytesSent);
    } finally {
      await mesh.close();
    }
  });

  test.each(['zero', 'random'] as const)('client frames masked with the %s key arrive intact', async (clientMaskKey) => {
    const mesh = await startMesh(2, { clientMaskKey });
    try {
      const [t0, t1] = mesh.transports;
      const x = f32(randomFloats(100_003, 7));
      await t1.send(0, { tag: 'up', tensors: { x } }); // rank 1 dialed rank 0: a client-to-server frame
      const got = (await t0.recv(1, 'up')).tensors.x.data;
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(x.data.buffer))).toBe(true);
    } finally {
      await mesh.close();
    }
  });

  test('interleaved tags keep per-tag FIFO order and can be received in any tag order', async () => {
    const mesh = await startMesh(3);
    try {
      const [t0, t1, t2] = mesh.transports;
      const n = 20;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        for (const tag of ['a', 'b', 'c']) {
          sends.push(t1.send(0, { tag, tensors: { x: f32([i, tag.charCodeAt(0)]) }, meta: { i } }));
          sends.push(t2.send(0, { tag, tensors: { x: f32([-i]) }, meta: { i } }));
        }
      }
      // Receive c before a before b, and rank 2 before rank 1: nothing may be lost or reordered.
      for (const [from, tag] of [[2, 'c'], [1, 'c'], [1, 'a'], [2, 'a'], [2, 'b'], [1, 'b']] as const) {
        for (let i = 0; i < n; i++) {
          const m = await t0.recv(from, tag);
          expect(m.meta?.i).toBe(i);
          expect(m.tensors.x.data[0]).toBe(from === 1 ? i : -i);
        }
      }
      await Promise.all(sends);
    } finally {
      await mesh.close();
    }
  });

  test('a receive waiting on a peer that closes rejects with PEER_CLOSED', async () => {
    const mesh = await startMesh(3);
    try {
      const [t0, t1, t2] = mesh.transports;
      const waiting = settle(t0.recv(2, 'never'));
      await t2.close();
      expect(await within(2000, waiting, 'rejection')).toMatchObject({ code: 'PEER_CLOSED' });
      await expect(t0.send(2, { tag: 'x', tensors: {} })).rejects.toMatchObject({ code: 'PEER_CLOSED' });
      // The rest of the mesh is unaffected.
      await t0.send(1, { tag: 'still', tensors: { x: f32([1]) } });
      expect((await t1.recv(0, 'still')).tensors.x.data[0]).toBe(1);
    } finally {
      await mesh.close();
    }
  });

  test('after close: sends reject with TRANSPORT_CLOSED, waiting receives reject', async () => {
    const mesh = await startMesh(2);
    const [t0] = mesh.transports;
    const waiting = settle(t0.recv(1, 'x'));
    await mesh.close();
    expect(await waiting).toMatchObject({ code: 'TRANSPORT_CLOSED' });
    await expect(t0.send(1, { tag: 'x', tensors: {} })).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    await expect(t0.recv(1, 'y')).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    await t0.close(); // idempotent
  });

  test('addressing a bad peer throws BAD_PEER; world of one needs no links', async () => {
    const mesh = await startMesh(1);
    try {
      await expect(mesh.transports[0].send(0, { tag: 'x', tensors: {} })).rejects.toMatchObject({ code: 'BAD_PEER' });
      expect(() => mesh.transports[0].recv(1, 'x')).toThrow(expect.objectContaining({ code: 'BAD_PEER' }));
    } finally {
      await mesh.close();
    }
  });
});
