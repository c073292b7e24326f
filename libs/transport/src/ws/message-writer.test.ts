import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RingtrainError } from '@ringtrain/core';
import { encodeFramePieces, joinFrame, tensorsFromFrames, tensorsToFrames, type EncodedFrame } from '@ringtrain/protocol';
import WebSocket, { WebSocketServer } from 'ws';
import { connectToCoordinator, startControlServer, type WorkerConnection } from './control-plane';
import { frameHeader, messageWriter, type SendFraming } from './message-writer';
import { quietLogger, randomFloats, SECRET, settle, within } from '../../testing/ws-test-support';

/** A plain ws server and a client connected to it; `server` is the accepted socket. */
async function wsPair(clientOptions: WebSocket.ClientOptions = {}, serverOptions: WebSocket.ServerOptions = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, ...serverOptions });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false, ...clientOptions });
  await once(client, 'open');
  const [server] = await accepted;
  const received = (ws: WebSocket) => {
    const got: Buffer[] = [];
    ws.on('message', (data) => got.push(data as Buffer));
    return got;
  };
  return {
    client,
    server,
    atServer: received(server),
    atClient: received(client),
    close: async () => {
      client.terminate();
      server.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

/** A frame of `bytes` payload bytes split over several pieces, as the codec makes them. */
function framesOfSizes(sizes: number[]): EncodedFrame[] {
  return sizes.map((n, i) =>
    encodeFramePieces({
      t: 'data',
      tag: `f${i}`,
      tensors: tensorsToFrames({ a: { dtype: 'float32', shape: [n], data: randomFloats(n, i + 1) }, b: { dtype: 'int32', shape: [1], data: new Int32Array([i]) } }),
    }),
  );
}

const write = (writer: ReturnType<typeof messageWriter>, frame: EncodedFrame) =>
  new Promise<void>((resolve, reject) => writer.write(frame, (err) => (err ? reject(err) : resolve())));

async function until(cond: () => boolean, what: string): Promise<void> {
  await within(5000, (async () => {
    while (!cond()) await new Promise((r) => setTimeout(r, 5));
  })(), what);
}

describe('frameHeader', () => {
  test.each([
    [0, false, '8200'],
    [125, false, '827d'],
    [126, false, '827e007e'],
    [65535, false, '827effff'],
    [65536, false, '827f0000000000010000'],
    [2 ** 28 + 3, false, '827f0000000010000003'],
    [5, true, '828500000000'],
    [70000, true, '82ff000000000001117000000000'],
  ])('%i bytes, masked %s', (n, masked, hex) => {
    expect(frameHeader(n, masked).toString('hex')).toBe(hex);
  });
});

describe('messageWriter', () => {
  // Payload lengths around ws's length encodings (7-bit, 16-bit, 64-bit) and odd sizes.
  const SIZES = [0, 1, 20, 27, 28, 16_370, 16_400, 100_003, 1 << 20];

  test.each<[string, SendFraming]>([
    ['server to client, unmasked', 'server'],
    ['client to server, zero mask', 'client-zero-mask'],
  ])('%s: pieces go to the socket unjoined and arrive as the joined frame', async (_name, framing) => {
    const pair = await wsPair(framing === 'client-zero-mask' ? { generateMask: (m: Buffer) => void m.fill(0) } : {});
    try {
      const from = framing === 'server' ? pair.server : pair.client;
      const got = framing === 'server' ? pair.atClient : pair.atServer;
      const writer = messageWriter(from, framing);
      expect(writer.writesPieces).toBe(true);
      const frames = framesOfSizes(SIZES);
      const writes: Promise<void>[] = [];
      for (const f of frames) {
        writes.push(write(writer, f));
        from.ping(); // ws's own frames land between messages, never inside one
      }
      await Promise.all(writes);
      await until(() => got.length === frames.length, 'every message');
      frames.forEach((f, i) => expect(got[i].equals(joinFrame(f))).toBe(true));
    } finally {
      await pair.close();
    }
  });

  test('a client with a random mask key joins the pieces and lets ws mask them', async () => {
    const pair = await wsPair();
    try {
      const writer = messageWriter(pair.client, 'client-random-mask');
      expect(writer.writesPieces).toBe(false);
      const frames = framesOfSizes([3, 70_000]);
      for (const f of frames) await write(writer, f);
      await until(() => pair.atServer.length === 2, 'both messages');
      frames.forEach((f, i) => expect(pair.atServer[i].equals(joinFrame(f))).toBe(true));
    } finally {
      await pair.close();
    }
  });

  test('with permessage-deflate negotiated it falls back to ws.send', async () => {
    const pair = await wsPair({ perMessageDeflate: true }, { perMessageDeflate: true });
    try {
      expect(pair.server.extensions).not.toBe('');
      const writer = messageWriter(pair.server, 'server');
      expect(writer.writesPieces).toBe(false);
      const [f] = framesOfSizes([1000]);
      await write(writer, f);
      await until(() => pair.atClient.length === 1, 'the message');
      expect(pair.atClient[0].equals(joinFrame(f))).toBe(true);
    } finally {
      await pair.close();
    }
  });
});

describe('FramedConnection.send without a copy', () => {
  test('resolves only once written; the tensor is the sender\'s again after that', async () => {
    let received: Float32Array[] = [];
    const server = await startControlServer({
      secret: SECRET,
      logger: quietLogger(),
      onConnection: (conn) =>
        conn.onMessage((msg) => {
          if (msg.t === 'result') received.push(Float32Array.from(tensorsFromFrames(msg.tensors).x.data));
        }),
    });
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    try {
      const data = new Float32Array(1 << 20); // 4 MiB: more than one socket write
      for (let i = 0; i < 5; i++) {
        data.fill(i);
        await worker.send({ t: 'result', jobId: `j${i}`, meta: {}, tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [data.length], data } }) });
        // Resolved: reusing the buffer now must not change what is on its way.
      }
      await until(() => received.length === 5, 'five results');
      received.forEach((r, i) => {
        expect(r[0]).toBe(i);
        expect(r[r.length - 1]).toBe(i);
      });
      received = [];
    } finally {
      await worker.close();
      await server.close();
    }
  });

  test('a frame still being written when the peer goes away rejects its send', async () => {
    let reader: WorkerConnection | null = null;
    const server = await startControlServer({ secret: SECRET, logger: quietLogger(), onConnection: (conn) => ((reader = conn), conn.pause()) });
    const worker = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger() });
    try {
      await until(() => reader !== null, 'the connection');
      const data = new Float32Array(16 << 20); // 64 MiB: far more than the kernel buffers
      const sending = settle(worker.send({ t: 'result', jobId: 'big', meta: {}, tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [data.length], data } }) }));
      await new Promise((r) => setTimeout(r, 200));
      reader!.terminate(new RingtrainError('PEER_DEAD', 'test: the reader is gone'));
      const err = await within(5000, sending, 'the send to settle');
      expect(err).toBeInstanceOf(RingtrainError);
    } finally {
      await worker.close();
      await server.close();
    }
  });
});
