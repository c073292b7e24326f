import { encodeFrame, frameFromHeader, PROTOCOL_VERSION, type Msg } from '@ringtrain/protocol';
import { pack } from 'msgpackr';
import { startPeerServer, type PeerServer } from './peer-server';
import { f32, quietLogger, RawPeer, SECRET, settle, within } from '../../testing/ws-test-support';
import type { WsTransport } from './ws-transport';

/**
 * World of 3: ranks 0 and 1 are real transports, rank 2 is a RawPeer linked to both. The raw
 * peer misbehaves towards rank 0 only; that one link must close with a coded error while rank 0's
 * server, the 0-1 link and the 2-1 link keep working.
 */
async function worldWithRawRank2(maxFrameBytes = 1 << 20, zeroMask = false) {
  const logger = quietLogger();
  const servers = await Promise.all([0, 1].map((rank) => startPeerServer({ rank, worldSize: 3, secret: SECRET, logger, maxFrameBytes })));
  const raw0 = await RawPeer.linked(servers[0].url, 2, 3, { zeroMask });
  const raw1 = await RawPeer.linked(servers[1].url, 2, 3);
  const peers = [...servers.map((s) => ({ rank: s.rank, host: s.host, port: s.port })), { rank: 2, host: '127.0.0.1', port: 9 }];
  const [t0, t1] = await Promise.all(servers.map((s) => s.connectMesh(peers, { timeoutMs: 3000 })));
  return { servers, t0, t1, raw0, raw1, close: () => Promise.all([t0.close(), t1.close(), raw0.close(), raw1.close()]) };
}

async function proveOthersStillWork(t0: WsTransport, t1: WsTransport, raw1: RawPeer, server0: PeerServer) {
  await t1.send(0, { tag: 'after', tensors: { x: f32([1, 2, 3]) } });
  expect(Array.from((await t0.recv(1, 'after')).tensors.x.data)).toEqual([1, 2, 3]);
  await t0.send(1, { tag: 'back', tensors: { x: f32([4]) } });
  expect(Array.from((await t1.recv(0, 'back')).tensors.x.data)).toEqual([4]);
  raw1.sendMsg({ t: 'data', tag: 'from-raw', tensors: [{ name: 'x', dtype: 'float32', shape: [1], bytes: new Uint8Array(new Float32Array([9]).buffer) }] });
  expect(Array.from((await t1.recv(2, 'from-raw')).tensors.x.data)).toEqual([9]);
  // The server still accepts (and vets) new connections.
  const late = await RawPeer.connect(server0.url, { secret: SECRET });
  late.sendMsg({ t: 'hello', v: PROTOCOL_VERSION, rank: 2, worldSize: 3 });
  expect(await late.closed).toMatchObject({ code: 4409, reason: expect.stringMatching(/^DUPLICATE_PEER: /) });
}

/** A frame around any header (bypassing the encoder's checks), with its payloads. */
const rawFrame = (header: unknown, payloads: Uint8Array[] = []): Buffer => frameFromHeader(pack(header), payloads);

const dataFrame = (over: Record<string, unknown>, payloads = [new Uint8Array(8)]): Buffer =>
  rawFrame({ t: 'data', tag: 'x', tensors: [{ name: 'k', dtype: 'float32', shape: [2], offset: 0, length: 8 }], ...over }, payloads);

// With a random mask key frames reach ws's parser; with the zero key ringtrain's own client uses,
// binary frames take the receiver's own path (frame-reader.ts). Both must refuse the same way.
describe.each([
  ['random', false],
  ['zero', true],
])('a bad frame (mask key %s) closes only its own connection', (_mask, zeroMask) => {
  test.each<[string, (raw: RawPeer) => void, number, RegExp, string]>([
    ['random bytes', (raw) => raw.sendRaw(Buffer.from('c1de4db33fc1c1c1', 'hex')), 4400, /^BAD_FRAME: /, 'BAD_FRAME'],
    ['an unknown t', (raw) => raw.sendRaw(rawFrame({ t: 'gossip', tag: 'x' })), 4400, /^BAD_FRAME: .*gossip/, 'BAD_FRAME'],
    ['byte length != shape', (raw) => raw.sendRaw(dataFrame({ tensors: [{ name: 'k', dtype: 'float32', shape: [3], offset: 0, length: 8 }] })), 4400, /^BAD_FRAME: .*tensors\[0\]\.length/, 'BAD_FRAME'],
    ['a payload length beyond the frame', (raw) => raw.sendRaw(dataFrame({ tensors: [{ name: 'k', dtype: 'float32', shape: [2 ** 20], offset: 0, length: 2 ** 22 }] })), 4400, /^BAD_FRAME: .*tensors\[0\]\.length/, 'BAD_FRAME'],
    ['a misplaced payload offset', (raw) => raw.sendRaw(dataFrame({ tensors: [{ name: 'k', dtype: 'float32', shape: [2], offset: 4, length: 8 }] }, [new Uint8Array(12)])), 4400, /^BAD_FRAME: .*tensors\[0\]\.offset/, 'BAD_FRAME'],
    ['trailing bytes', (raw) => raw.sendRaw(Buffer.concat([dataFrame({}), Buffer.alloc(4)])), 4400, /^BAD_FRAME: .*payloads/, 'BAD_FRAME'],
    ['a frame of protocol 2', (raw) => raw.sendRaw(pack({ t: 'data', tag: 'x', tensors: [] })), 4400, /^BAD_FRAME: .*protocol version 2 or older/, 'BAD_FRAME'],
    ['a text frame', (raw) => raw.sendRaw('{"t":"data"}'), 4400, /^BAD_FRAME: .*text/, 'BAD_FRAME'],
    ['a second hello', (raw) => raw.sendMsg({ t: 'hello', v: PROTOCOL_VERSION, rank: 2, worldSize: 3 } as Msg), 4405, /^UNEXPECTED_FRAME: /, 'UNEXPECTED_FRAME'],
    ['an oversized frame', (raw) => raw.sendRaw(dataFrame({ tensors: [{ name: 'k', dtype: 'float32', shape: [100_000], offset: 0, length: 400_000 }] }, [new Uint8Array(400_000)])), 1009, /^$/, 'FRAME_TOO_LARGE'],
    ['a reserved bit set', (raw) => raw.sendBytes(Buffer.from([0xc2, 0x80, 0, 0, 0, 0])), 1002, /^$/, 'BAD_FRAME'],
    ['an unmasked frame from a client', (raw) => raw.sendBytes(Buffer.concat([Buffer.from([0x82, 0x08]), Buffer.alloc(8)])), 1002, /^$/, 'BAD_FRAME'],
    ['a 64-bit length over 2^53', (raw) => raw.sendBytes(Buffer.from([0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])), 1009, /^$/, 'BAD_FRAME'],
  ])('%s', async (_name, misbehave, closeCode, reason, causeCode) => {
    const w = await worldWithRawRank2(256 * 1024, zeroMask);
    try {
      const waiting = settle(w.t0.recv(2, 'x'));
      misbehave(w.raw0);
      expect(await within(2000, w.raw0.closed, 'close')).toMatchObject({ code: closeCode, reason: expect.stringMatching(reason) });
      const err = await waiting;
      // (rank 0's own close code may read 1006: ws stops parsing after a framing error.)
      expect(err).toMatchObject({ code: 'PEER_CLOSED', details: { peer: 2, causeCode } });
      await expect(w.t0.send(2, { tag: 'x', tensors: {} })).rejects.toMatchObject({ code: 'PEER_CLOSED' });
      await proveOthersStillWork(w.t0, w.t1, w.raw1, w.servers[0]);
    } finally {
      await w.close();
    }
  });

  test('sending a frame over maxFrameBytes is refused locally and the link stays up', async () => {
    const w = await worldWithRawRank2(64 * 1024);
    try {
      await expect(w.t0.send(1, { tag: 'big', tensors: { x: f32(new Float32Array(20_000)) } })).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
      await proveOthersStillWork(w.t0, w.t1, w.raw1, w.servers[0]);
    } finally {
      await w.close();
    }
  });
});

describe('the acceptor vets hello', () => {
  let server: PeerServer;
  beforeEach(async () => {
    server = await startPeerServer({ rank: 1, worldSize: 4, secret: SECRET, logger: quietLogger(), helloTimeoutMs: 200 });
  });
  afterEach(() => server.close());

  test.each<[string, Buffer | string, number, RegExp]>([
    ['random bytes before hello', Buffer.from([1, 2, 3, 4, 5]), 4400, /^BAD_FRAME: /],
    ['data before hello', encodeFrame({ t: 'data', tag: 'x', tensors: [] }), 4403, /^BAD_HELLO: .*before hello/],
    ['a wrong protocol version', rawFrame({ t: 'hello', v: PROTOCOL_VERSION + 1, rank: 2, worldSize: 4 }), 4400, new RegExp(`^BAD_FRAME: .*v: got number ${PROTOCOL_VERSION + 1}, expected protocol version ${PROTOCOL_VERSION}`)],
    ['a hello of protocol 2', pack({ t: 'hello', v: 2, rank: 2, worldSize: 4 }), 4400, /^BAD_FRAME: .*protocol version 2 or older/],
    ['a different world size', encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, rank: 2, worldSize: 5 }), 4403, /^BAD_HELLO: .*world size/],
    ['a rank outside the world', rawFrame({ t: 'hello', v: PROTOCOL_VERSION, rank: 4, worldSize: 4 }), 4400, /^BAD_FRAME: .*rank/],
    ['a lower rank dialing a higher one', encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, rank: 0, worldSize: 4 }), 4403, /^BAD_HELLO: .*only higher ranks/],
    ['its own rank', encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, rank: 1, worldSize: 4 }), 4403, /^BAD_HELLO: /],
  ])('%s', async (_name, frame, code, reason) => {
    const raw = await RawPeer.connect(server.url, { secret: SECRET });
    raw.sendRaw(frame);
    expect(await within(2000, raw.closed, 'close')).toMatchObject({ code, reason: expect.stringMatching(reason) });
    // A proper hello afterwards still links.
    const good = await RawPeer.linked(server.url, 3, 4);
    expect(good.received[0]).toEqual({ t: 'hello', v: PROTOCOL_VERSION, rank: 1, worldSize: 4 });
    good.close();
  });

  test('a duplicate rank is refused with DUPLICATE_PEER while the first link stays', async () => {
    const first = await RawPeer.linked(server.url, 2, 4);
    const second = await RawPeer.connect(server.url, { secret: SECRET });
    second.sendMsg({ t: 'hello', v: PROTOCOL_VERSION, rank: 2, worldSize: 4 });
    expect(await second.closed).toMatchObject({ code: 4409, reason: expect.stringMatching(/^DUPLICATE_PEER: rank 2/) });
    expect(first.ws.readyState).toBe(first.ws.OPEN);
    first.close();
  });

  test('no hello within helloTimeoutMs closes with HELLO_TIMEOUT', async () => {
    const raw = await RawPeer.connect(server.url, { secret: SECRET });
    expect(await within(2000, raw.closed, 'close')).toMatchObject({ code: 4408, reason: expect.stringMatching(/^HELLO_TIMEOUT: /) });
  });

  test('a dialer that reaches the wrong rank fails connectMesh with BAD_HELLO', async () => {
    const dialer = await startPeerServer({ rank: 2, worldSize: 4, secret: SECRET, logger: quietLogger() });
    // Claims rank 0 lives where rank 1 listens; rank 1's address is dead.
    const peers = [
      { rank: 0, host: '127.0.0.1', port: server.port },
      { rank: 1, host: '127.0.0.1', port: 9 },
    ];
    await expect(dialer.connectMesh(peers, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'BAD_HELLO' });
    expect(dialer.state).toBe('closed');
  });
});
