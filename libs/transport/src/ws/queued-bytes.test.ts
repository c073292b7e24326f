import { tensorsFromFrames, tensorsToFrames, type WorkerToCoordinatorMsg } from '@ringtrain/protocol';
import { connectToCoordinator, startControlServer, type WorkerConnection } from './control-plane';
import { capturingLogger, f32, quietLogger, randomFloats, SECRET, startMesh, within } from '../../testing/ws-test-support';

const MiB = 1024 * 1024;
const FRAME_FLOATS = MiB / 4; // one 1 MiB tensor per frame
const FRAME_BYTES = MiB + 200; // plus the msgpack header
const COUNT = 40;
/** Small limits so a few frames fill the budget; the sender's own buffer stays small too. */
const LIMITS = { maxFrameBytes: 2 * MiB, maxQueuedBytes: 4 * MiB, sendHighWaterBytes: 2 * MiB };

const payloads = Array.from({ length: COUNT }, (_, i) => f32(randomFloats(FRAME_FLOATS, i + 1)));
const payload = (i: number) => payloads[i];

function sameBytes(a: Float32Array | Int32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function settleFor(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Waits until the budget has stopped reading, then `ms` more for anything still in flight. */
async function untilPaused(stats: () => { readPauses: number }, ms: number): Promise<void> {
  await within(10_000, (async () => {
    while (stats().readPauses === 0) await settleFor(10);
  })(), 'reading paused');
  await settleFor(ms);
}

describe('maxQueuedBytes: a consumer that does not read stops the socket, not the process', () => {
  test('control plane: queued bytes stay within the budget plus one frame; every frame then arrives intact and in order', async () => {
    let reader!: WorkerConnection;
    const server = await startControlServer({ secret: SECRET, logger: quietLogger(), ...LIMITS, onConnection: (conn) => (reader = conn) });
    const writer = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger(), ...LIMITS });
    try {
      let sent = 0;
      const sending = (async () => {
        for (let i = 0; i < COUNT; i++) {
          await writer.send({ t: 'result', jobId: `j${i}`, meta: { i }, tensors: tensorsToFrames({ x: payload(i) }) });
          sent++;
        }
      })();
      await untilPaused(() => reader.stats(), 300); // nobody reads: frames queue until the budget stops the socket
      const idle = reader.stats();
      expect(idle.readPauses).toBeGreaterThanOrEqual(1);
      expect(idle.queuedBytes).toBeGreaterThanOrEqual(LIMITS.maxQueuedBytes);
      expect(idle.peakQueuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + FRAME_BYTES);
      expect(sent).toBeLessThan(COUNT); // TCP backpressure reached the sender

      const messages = reader.messages();
      for (let i = 0; i < COUNT; i++) {
        const msg = (await within(5000, messages.next(), `frame ${i}`)).value as WorkerToCoordinatorMsg;
        expect(msg).toMatchObject({ t: 'result', jobId: `j${i}`, meta: { i } });
        if (msg.t !== 'result') throw new Error('unreachable');
        expect(sameBytes(tensorsFromFrames(msg.tensors).x.data, payload(i).data)).toBe(true);
      }
      await sending;
      const done = reader.stats();
      expect(done.framesReceived).toBe(COUNT);
      expect(done.queuedBytes).toBe(0);
      expect(done.peakQueuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + FRAME_BYTES);
      expect(reader.state).toBe('open');
    } finally {
      await writer.close();
      await server.close();
    }
  });

  test('peer mesh: a rank that does not recv bounds its mailbox; a pause longer than the heartbeat timeout keeps the link', async () => {
    const log = capturingLogger();
    const mesh = await startMesh(2, { ...LIMITS, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, logger: log.logger });
    try {
      const [t0, t1] = mesh.transports;
      const sending = Promise.all(Array.from({ length: COUNT }, (_, i) => t0.send(1, { tag: 'kv', tensors: { x: payload(i) }, meta: { i } })));
      await untilPaused(() => t1.stats(), 1000); // then over three heartbeat timeouts with reading stopped
      expect(t1.stats().peakQueuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + FRAME_BYTES);
      expect(t1.stats().queuedBytes).toBeGreaterThanOrEqual(LIMITS.maxQueuedBytes);
      expect(t1.stats().messagesReceived).toBeLessThan(COUNT);
      expect(log.lines.find((l) => l.code === 'QUEUE_BYTES_FULL')?.message).toMatch(/^stopped reading from rank 0 300 ms ago: its \d+ received bytes still wait for their consumer/);

      for (let i = 0; i < COUNT; i++) {
        const got = await within(5000, t1.recv(0, 'kv'), `message ${i}`);
        expect(got.meta?.i).toBe(i);
        expect(sameBytes(got.tensors.x.data, payload(i).data)).toBe(true);
      }
      await sending;
      expect(t1.stats()).toMatchObject({ messagesReceived: COUNT, queuedBytes: 0 });
      expect(t1.stats().peakQueuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + FRAME_BYTES);
      // The link survived the long pause both ways.
      await t1.send(0, { tag: 'back', tensors: { x: f32([5]) } });
      expect((await t0.recv(1, 'back')).tensors.x.data[0]).toBe(5);
      expect(log.lines.filter((l) => l.level !== 'debug' && l.code !== 'QUEUE_BYTES_FULL')).toEqual([]);
    } finally {
      await mesh.close();
    }
  });

  test('frames that arrive before a handler is attached count too', async () => {
    let reader!: WorkerConnection;
    const server = await startControlServer({ secret: SECRET, logger: quietLogger(), ...LIMITS, onConnection: (conn) => (reader = conn) });
    const writer = await connectToCoordinator({ url: server.url, secret: SECRET, logger: quietLogger(), ...LIMITS });
    try {
      const sending = Promise.all(Array.from({ length: 12 }, (_, i) => writer.send({ t: 'result', jobId: `j${i}`, meta: { i }, tensors: tensorsToFrames({ x: payload(i) }) })));
      await untilPaused(() => reader.stats(), 100);
      expect(reader.stats().peakQueuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + FRAME_BYTES);
      const seen: number[] = [];
      reader.onMessage((msg) => void seen.push(msg.t === 'result' ? Number(msg.meta.i) : -1)); // consumes at once
      await sending;
      await within(5000, (async () => {
        while (seen.length < 12) await settleFor(10);
      })(), 'all frames');
      expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(reader.stats().queuedBytes).toBe(0);
    } finally {
      await writer.close();
      await server.close();
    }
  });
});
