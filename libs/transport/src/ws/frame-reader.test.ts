import { randomBytes } from 'node:crypto';
import { FrameReader } from './frame-reader';
import { randomFloats, startMesh, f32 } from '../../testing/ws-test-support';
import { makeTestCertificates } from '../../testing/tls-test-support';
import { loadTls } from './load-tls';

/** One WebSocket frame, as a peer might put it on the wire. */
function wsFrame(opts: { payload: Buffer; opcode?: number; fin?: boolean; rsv?: number; mask?: Buffer | null }): Buffer {
  const { payload, opcode = 2, fin = true, rsv = 0, mask = Buffer.alloc(4) } = opts;
  const n = payload.length;
  const len = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  len[0] |= mask ? 0x80 : 0;
  const head = Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode, ...len]);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask ?? Buffer.alloc(0), body]);
}

const MAX_PAYLOAD = 400_000;

/** A stream mixing frames the reader takes with every kind it must leave to ws, in order. */
function mixedStream(): { bytes: Buffer; ours: Buffer[]; theirs: Buffer } {
  const ours: Buffer[] = [];
  const theirs: Buffer[] = [];
  const parts: Buffer[] = [];
  const take = (payload: Buffer) => {
    ours.push(payload);
    parts.push(wsFrame({ payload }));
  };
  const leave = (frame: Buffer) => {
    theirs.push(frame);
    parts.push(frame);
  };
  for (const n of [0, 1, 125, 126, 65535, 65536, 300_001]) take(randomBytes(n));
  leave(wsFrame({ payload: Buffer.from('p'), opcode: 0x9 })); // ping
  take(randomBytes(70_000));
  leave(wsFrame({ payload: Buffer.from('{"t":1}'), opcode: 0x1 })); // text
  leave(wsFrame({ payload: randomBytes(5000), mask: Buffer.from([1, 2, 3, 4]) })); // a random mask key
  leave(wsFrame({ payload: randomBytes(9), rsv: 4 })); // RSV1
  leave(wsFrame({ payload: randomBytes(9), mask: null })); // unmasked, on a server's end
  leave(wsFrame({ payload: randomBytes(MAX_PAYLOAD + 1) })); // over maxPayload
  // A fragmented binary message with a pong between its fragments: all of it is ws's.
  leave(wsFrame({ payload: randomBytes(100_000), fin: false }));
  leave(wsFrame({ payload: Buffer.from('q'), opcode: 0xa }));
  leave(wsFrame({ payload: randomBytes(3), opcode: 0x0, fin: false }));
  leave(wsFrame({ payload: randomBytes(200), opcode: 0x0 }));
  take(randomBytes(4096));
  leave(wsFrame({ payload: Buffer.from([3, 232]), opcode: 0x8 })); // close
  take(randomBytes(10)); // (a peer that goes on after close: still framed the same)
  return { bytes: Buffer.concat(parts), ours, theirs: Buffer.concat(theirs) };
}

/** Deterministic read sizes from 1 byte to ~70 KiB, with single bytes now and then. */
function readSizes(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % 7 === 0 ? 1 + (x % 13) : 1 + (x % 70_000);
  };
}

function collector() {
  const delivered: Buffer[] = [];
  const forwarded: Buffer[] = [];
  const reader = new FrameReader({ expectMasked: true, maxPayload: MAX_PAYLOAD, onBinary: (d) => delivered.push(d) }, (b) => {
    forwarded.push(b);
    return true;
  });
  return { reader, delivered, forwarded };
}

describe('FrameReader', () => {
  const stream = mixedStream();

  // Checked after the whole stream went through, so a view of memory reused later would show.
  function expectSplit(delivered: Buffer[], forwarded: Buffer[]) {
    expect(delivered.length).toBe(stream.ours.length);
    delivered.forEach((d, i) => expect(d.equals(stream.ours[i])).toBe(true));
    expect(Buffer.concat(forwarded).equals(stream.theirs)).toBe(true);
  }

  test.each([1, 2, 3])('takes our frames and forwards the rest whole, from fresh reads of any size (seed %i)', (seed) => {
    const { reader, delivered, forwarded } = collector();
    const next = readSizes(seed);
    for (let at = 0; at < stream.bytes.length; ) {
      const n = Math.min(next(), stream.bytes.length - at);
      reader.write(stream.bytes.subarray(at, at + n));
      at += n;
    }
    expectSplit(delivered, forwarded);
    expect(reader.directMessages).toBe(0);
  });

  test('keeps nothing of a read buffer that is reused: messages and forwarded bytes are copied out', () => {
    const { reader, delivered, forwarded } = collector();
    const scratch = Buffer.alloc(65536);
    const next = readSizes(7);
    for (let at = 0; at < stream.bytes.length; ) {
      const n = Math.min(next(), scratch.length, stream.bytes.length - at);
      stream.bytes.copy(scratch, 0, at, at + n);
      reader.write(scratch.subarray(0, n), true);
      scratch.fill(0xee); // the next read overwrites it
      at += n;
    }
    expectSplit(delivered, forwarded);
  });

  test('reads straight into the message where the socket lets it, never past the frame', () => {
    const { reader, delivered, forwarded } = collector();
    const scratch = Buffer.alloc(65536);
    const next = readSizes(11);
    let direct = 0;
    for (let at = 0; at < stream.bytes.length; ) {
      const target = reader.nextReadTarget(scratch);
      const n = Math.min(next(), target.length, stream.bytes.length - at);
      stream.bytes.copy(target, 0, at, at + n); // what the kernel does
      if (target === scratch) {
        reader.write(scratch.subarray(0, n), true);
        scratch.fill(0xee);
      } else {
        direct += n;
        reader.filledDirectly(n);
      }
      at += n;
    }
    expectSplit(delivered, forwarded);
    expect(direct).toBeGreaterThan(300_000); // most of the big messages
    expect(reader.directMessages).toBeGreaterThanOrEqual(2);
  });
});

describe('FrameReader reuses the buffers its consumers hand back', () => {
  const feed = (reader: FrameReader, bytes: Buffer) => {
    for (let at = 0; at < bytes.length; at += 1000) reader.write(bytes.subarray(at, Math.min(at + 1000, bytes.length)));
  };

  test('a recycled buffer takes the next frame of its size; one not handed back, or of another size, is never reused', () => {
    const got: Array<{ data: Buffer; recycle?: () => void }> = [];
    const reader = new FrameReader({ expectMasked: true, maxPayload: MAX_PAYLOAD, onBinary: (data, recycle) => got.push({ data, recycle }) }, () => true);
    const payloads = [randomBytes(5000), randomBytes(5000), randomBytes(7000), randomBytes(5000)];
    const copies = payloads.map((p) => Buffer.from(p));
    feed(reader, wsFrame({ payload: payloads[0] }));
    feed(reader, wsFrame({ payload: payloads[1] })); // the first is still held: a new buffer
    expect(got[1].data.buffer).not.toBe(got[0].data.buffer);
    got[0].recycle!();
    got[0].recycle!(); // twice: harmless, handed back once
    feed(reader, wsFrame({ payload: payloads[2] })); // another size: a new buffer
    expect(got[2].data.buffer).not.toBe(got[0].data.buffer);
    feed(reader, wsFrame({ payload: payloads[3] }));
    expect(got[3].data.buffer).toBe(got[0].data.buffer);
    expect(reader.reusedBuffers).toBe(1);
    // The messages still held read what was sent to them.
    for (const i of [1, 2, 3]) expect(got[i].data.equals(copies[i])).toBe(true);
    feed(reader, wsFrame({ payload: randomBytes(5000) })); // nothing handed back since: a new buffer
    expect(new Set(got.map((g) => g.data.buffer)).size).toBe(4);
  });

  test('a payload inside one read is a view of it and cannot be handed back', () => {
    const got: Array<{ recycle?: () => void }> = [];
    const reader = new FrameReader({ expectMasked: true, maxPayload: MAX_PAYLOAD, onBinary: (_d, recycle) => got.push({ recycle }) }, () => true);
    reader.write(wsFrame({ payload: randomBytes(100) }));
    expect(got[0].recycle).toBeUndefined();
  });
});

describe('the transport reads large frames straight into their buffers', () => {
  const exchange = async (tls?: ReturnType<typeof loadTls>) => {
    const mesh = await startMesh(2, tls ? { tls } : {});
    try {
      const [a, b] = mesh.transports;
      const big = (seed: number) => f32(randomFloats(1_300_001, seed)); // 5.2 MB: many reads each
      const sent = [big(1), f32([1, 2, 3]), big(2), big(3)];
      const back = [big(4), f32([]), big(5)];
      await Promise.all([
        ...sent.map((x, i) => a.send(1, { tag: `x${i}`, tensors: { x } })),
        ...back.map((x, i) => b.send(0, { tag: `y${i}`, tensors: { x } })),
      ]);
      const bytes = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (const [i, x] of sent.entries()) expect(bytes((await b.recv(0, `x${i}`)).tensors.x).equals(bytes(x))).toBe(true);
      for (const [i, x] of back.entries()) expect(bytes((await a.recv(1, `y${i}`)).tensors.x).equals(bytes(x))).toBe(true);
      return [a.stats().framesReadDirectly, b.stats().framesReadDirectly];
    } finally {
      await mesh.close();
    }
  };

  test('on plain TCP, at both ends of a link (the dialer and the acceptor)', async () => {
    const [a, b] = await exchange();
    expect(b).toBeGreaterThanOrEqual(3);
    expect(a).toBeGreaterThanOrEqual(2);
  });

  test('and into buffers the receiver handed back, hop after hop, each message exact', async () => {
    const mesh = await startMesh(2);
    try {
      const [a, b] = mesh.transports;
      const bytes = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let hop = 0; hop < 6; hop++) {
        const x = f32(randomFloats(1_000_003, hop));
        await Promise.all([a.send(1, { tag: `h${hop}`, tensors: { x } }), b.recv(0, `h${hop}`).then((m) => {
          expect(bytes(m.tensors.x).equals(bytes(x))).toBe(true);
          m.recycle!();
        })]);
      }
      expect(b.stats().framesInReusedBuffers).toBeGreaterThanOrEqual(4);
    } finally {
      await mesh.close();
    }
  });

  test('over TLS, by copying from the decrypted reads, exactly as well', async () => {
    const certs = makeTestCertificates();
    expect(await exchange(loadTls({ cert: certs.cert, key: certs.key }))).toEqual([0, 0]);
  });
});
