import { tensorsToFrames, type ResultMsg } from '@ringtrain/protocol';
import { connectToCoordinator, startControlServer, type WorkerConnection } from './control-plane';
import { quietLogger, SECRET, startMesh, within } from '../../testing/ws-test-support';

const MiB = 1024 * 1024;

describe('send backpressure', () => {
  test('a slow reader bounds the sender buffer near sendHighWaterBytes', async () => {
    const highWater = 2 * MiB;
    const count = 64;
    let reader!: WorkerConnection;
    let received = 0;
    const server = await startControlServer({
      secret: SECRET,
      logger: quietLogger(),
      onConnection: (conn) => {
        reader = conn;
        conn.pause(); // a reader that stops reading
        conn.onMessage(() => void received++);
      },
    });
    const writer = await connectToCoordinator({ url: server.url, secret: SECRET, sendHighWaterBytes: highWater, logger: quietLogger() });
    try {
      const msg: ResultMsg = { t: 'result', jobId: 'j', meta: {}, tensors: tensorsToFrames({ x: { dtype: 'float32', shape: [MiB / 4], data: new Float32Array(MiB / 4) } }) };
      let sent = 0;
      let worstBuffered = 0;
      const sending = (async () => {
        for (let i = 0; i < count; i++) {
          await writer.send(msg);
          sent++;
          worstBuffered = Math.max(worstBuffered, writer.bufferedAmount);
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      // Kernel socket buffers absorb a few MiB; after that send() must wait instead of queueing 64 MiB.
      expect(sent).toBeLessThan(count);
      const frameBytes = MiB + 100;
      expect(writer.bufferedAmount).toBeLessThanOrEqual(highWater + frameBytes);

      // The reader drains slowly: 10 ms of reading every 50 ms.
      let slowReader = true;
      const slow = setInterval(() => {
        reader.resume();
        setTimeout(() => slowReader && reader.pause(), 10);
      }, 50);
      await sending;
      slowReader = false;
      clearInterval(slow);
      reader.resume();
      await within(5000, (async () => {
        while (received < count) await new Promise((r) => setTimeout(r, 10));
      })(), 'reading everything');
      expect(worstBuffered).toBeLessThanOrEqual(highWater + frameBytes);
      expect(writer.stats().peakBufferedBytes).toBeLessThanOrEqual(highWater + frameBytes);
      expect(writer.stats().framesSent).toBe(count);
    } finally {
      await writer.close();
      await server.close();
    }
  });

  test('a mesh link reports its peak buffer in stats', async () => {
    const mesh = await startMesh(2, { sendHighWaterBytes: MiB });
    try {
      const [t0, t1] = mesh.transports;
      const x = { dtype: 'float32' as const, shape: [MiB / 8], data: new Float32Array(MiB / 8) };
      await Promise.all(Array.from({ length: 16 }, (_, i) => t0.send(1, { tag: `b${i}`, tensors: { x } })));
      for (let i = 0; i < 16; i++) await t1.recv(0, `b${i}`);
      expect(t0.stats().peakBufferedBytes).toBeLessThanOrEqual(MiB + MiB / 2 + 100);
    } finally {
      await mesh.close();
    }
  });
});
