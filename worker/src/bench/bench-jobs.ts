import { once } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { RingtrainError } from '@ringtrain/core';
import {
  installNativeKernels,
  nativeKernel,
  nativeKernelsInstalled,
  nativeStatus,
  tfjsKernel,
  uninstallNativeKernels,
  type AttentionKernel,
} from '@ringtrain/kernels';
import { createInMemoryWorld, type Transport, type WireTensor } from '@ringtrain/transport';
import { runAttentionShard } from '../attention/run-shard';
import { exposedCommMs, resetExposedComm } from '../comm/comm-timer';
import { problemOf } from '../process/attention-job';
import type { JobHandler } from '../process/job-env';
import { getStrategy } from '../strategies/registry';

/**
 * Jobs of `ringtrain bench attention`.
 *
 * `bench-attention`: one strategy's forward + backward, warmup + reps times, on this rank's
 * shard. Per timed rep it returns (tensor `timings` [reps, 3]): wall ms (forward + backward),
 * ms inside the attention kernel, and ms spent awaiting the network after compute (exposed
 * communication, from comm-timer). `run` says who computes what:
 *   distributed  every rank its shard, through the strategy across the real transport
 *   alone        rank 0 the whole sequence in a world of one, the others idle: the
 *                single-process baseline on one worker's threads
 *   all-alone    every rank the whole sequence in its own world of one, at the same time: the
 *                baseline when every core is busy, as it is in a distributed run
 *
 * `bench-transport`: rank `from` streams `chunks` × `chunkBytes` to rank `to`, either as data
 * frames through this world's real transport (ws + msgpack) or over a plain node:net socket
 * between the same two processes; the sender times first byte to the receiver's ack. Both ends
 * report `gcShare`: the share of the timed rounds' wall time their JS thread spent in garbage
 * collection pauses.
 */
const TIMING_COLUMNS = 3; // wallMs, kernelMs, waitMs

export const benchAttentionJob: JobHandler<'bench-attention'> = async (env, { params, tensors }, jobId) => {
  const strategy = getStrategy(params.strategy, { ulyssesDegree: params.ulyssesDegree });
  const problem = problemOf(params);
  const { reps, warmup, run } = params;
  if (run === 'alone' && env.transport.rank !== 0) return { meta: { idle: true }, tensors: {} };
  const { pos, doc, q, k, v, dout } = tensors;
  if (!pos || !q || !k || !v || !dout) throw new RingtrainError('BAD_JOB', `bench-attention (${run}) came without its inputs q, k, v, dout and pos`);
  const shard = { q: q.data, k: k.data, v: v.data, dout: dout.data, pos: pos.data, doc: doc?.data };
  const transport = run === 'distributed' ? env.transport : createInMemoryWorld(1)[0];
  const synchronized = run !== 'alone' && env.transport.worldSize > 1;
  const choice = chooseKernel(params.kernel, env.transport.rank);
  try {
    const kernel = timedKernel(choice.kernel);
    const timings = new Float32Array(reps * TIMING_COLUMNS);
    let bytesSent = 0;
    let messagesSent = 0;
    for (let i = 0; i < warmup + reps; i++) {
      if (synchronized) await barrier(env.transport, `${jobId}.barrier.${i}`);
      const before = transport.stats();
      resetExposedComm();
      kernel.reset();
      const r = await runAttentionShard({ transport, kernel }, strategy, problem, shard, `${jobId}.${i}`);
      const waitMs = exposedCommMs();
      const after = transport.stats();
      if (i < warmup) continue;
      const row = (i - warmup) * TIMING_COLUMNS;
      timings.set([r.forwardMs + r.backwardMs, kernel.ms, waitMs], row);
      bytesSent = after.bytesSent - before.bytesSent;
      messagesSent = after.messagesSent - before.messagesSent;
    }
    return {
      tensors: { timings: { dtype: 'float32', shape: [reps, TIMING_COLUMNS], data: timings } },
      meta: {
        kernel: choice.kernel.name,
        matmul: choice.matmul,
        bytesSentPerRep: bytesSent,
        messagesSentPerRep: messagesSent,
        blasThreads: process.env.OPENBLAS_NUM_THREADS ?? '',
        shardTokens: pos.shape[0],
      },
    };
  } finally {
    choice.restore();
  }
};

export const benchTransportJob: JobHandler<'bench-transport'> = async (env, { params }, jobId) => {
  const { transport } = env;
  const { mode, from, to, chunkBytes } = params;
  if (from >= transport.worldSize || to >= transport.worldSize) throw new RingtrainError('BAD_JOB', `bench-transport between ranks ${from} and ${to} in a world of ${transport.worldSize}`);
  const stream: Stream = { chunkBytes, chunks: params.chunks, rounds: params.warmup + params.reps, warmup: params.warmup };
  const { rank } = transport;
  if (rank !== from && rank !== to) return { meta: { idle: true }, tensors: {} };
  const peer = rank === from ? to : from;
  const gc = new GcClock();
  stream.timedStart = () => gc.start();
  let ms: number[];
  try {
    ms = mode === 'ws'
      ? await streamOverTransport(transport, rank === from, peer, `${jobId}.ws`, stream)
      : await streamOverTcp(transport, rank === from, peer, `${jobId}.${mode}`, stream, mode === 'tcp-messages');
  } finally {
    gc.stop();
  }
  const gcShare = gc.share();
  if (rank !== from) return { meta: { receiver: true, gcShare }, tensors: {} };
  const timed = Float32Array.from(ms.slice(stream.warmup));
  return { tensors: { ms: { dtype: 'float32', shape: [timed.length], data: timed } }, meta: { sender: true, bytesPerRound: chunkBytes * stream.chunks, gcShare } };
};

/** Time in garbage collection pauses (PerformanceObserver 'gc') against wall time, from start() to stop(). */
class GcClock {
  private gcMs = 0;
  private startedAt: number | null = null;
  private wallMs = 0;
  private readonly observer = new PerformanceObserver((list) => this.add(list.getEntries()));

  start(): void {
    if (this.startedAt !== null) return;
    this.startedAt = performance.now();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    if (this.startedAt === null) return;
    this.add(this.observer.takeRecords()); // entries not yet delivered to the callback
    this.observer.disconnect();
    this.wallMs = performance.now() - this.startedAt;
  }

  share(): number {
    return this.wallMs > 0 ? this.gcMs / this.wallMs : 0;
  }

  private add(entries: readonly { duration: number }[]): void {
    for (const e of entries) this.gcMs += e.duration;
  }
}

interface Stream {
  chunkBytes: number;
  chunks: number;
  /** warmup + reps */
  rounds: number;
  warmup: number;
  /** Called on both ends as the first timed round starts. */
  timedStart?: () => void;
}

/** Data frames through the real transport; returns the sender's ms per round (receiver: []). */
async function streamOverTransport(transport: Transport, sending: boolean, peer: number, tag: string, s: Stream): Promise<number[]> {
  const chunk = filledChunk(s.chunkBytes);
  const data: WireTensor = { dtype: 'float32', shape: [chunk.length], data: chunk };
  const ms: number[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const t = `${tag}.${round}`;
    await pairBarrier(transport, peer, `${t}.ready`);
    if (round === s.warmup) s.timedStart?.();
    if (sending) {
      const t0 = performance.now();
      for (let c = 0; c < s.chunks; c++) await transport.send(peer, { tag: t, tensors: { x: data } });
      await transport.recv(peer, `${t}.ack`);
      ms.push(performance.now() - t0);
    } else {
      for (let c = 0; c < s.chunks; c++) (await transport.recv(peer, t)).recycle?.(); // read and done with, as a ring's block once passed on
      await transport.send(peer, { tag: `${t}.ack`, tensors: {} });
    }
  }
  return ms;
}

/**
 * The same volume over a plain TCP socket on 127.0.0.1 between the same two processes: the
 * sender listens on loopback only and passes its port and a one-time token through the
 * authenticated transport; a connection that does not open with that token is dropped. One
 * connection serves every round (as one ws link does); the receiver answers each round's last
 * byte with a 1-byte ack. Neither end allocates or copies per byte: the sender writes one chunk
 * again and again, and the receiver reads into one reused buffer (`onread`), so the baseline is
 * what the kernel moves. (With Node's default reads every 64 KiB read is a fresh buffer, and how
 * fast those are faulted in depends on what the process freed before: 0.2-3.6 GB/s measured.)
 */
async function streamOverTcp(transport: Transport, sending: boolean, peer: number, tag: string, s: Stream, intoMessages = false): Promise<number[]> {
  const roundBytes = s.chunkBytes * s.chunks;
  if (!sending) {
    const msg = await transport.recv(peer, `${tag}.port`);
    const port = msg.meta?.port;
    const token = msg.meta?.token;
    if (typeof port !== 'number' || !Number.isInteger(port) || typeof token !== 'string' || token.length !== 2 * TOKEN_BYTES) {
      throw new RingtrainError('BAD_JOB', `rank ${peer} sent no TCP port and token for the baseline, got ${JSON.stringify(msg.meta)}`);
    }
    let received = 0;
    let acked = 0;
    let socket!: Socket;
    const done = new Promise<void>((resolve, reject) => {
      const onBytes = (n: number) => {
        received += n;
        while (received >= roundBytes && acked < s.rounds) {
          received -= roundBytes;
          acked++;
          if (acked === s.warmup) s.timedStart?.();
          if (acked === s.rounds) socket.end(ACK, () => resolve());
          else socket.write(ACK);
        }
        return true;
      };
      const reads = intoMessages ? messageReads(s.chunkBytes) : null;
      const onread = reads
        ? { buffer: reads.next, callback: (n: number) => (reads.advance(n), onBytes(n)) }
        : { buffer: Buffer.allocUnsafe(READ_BYTES), callback: onBytes };
      socket = connect({ port, host: '127.0.0.1', noDelay: true, onread });
      socket.on('error', reject);
    });
    await once(socket, 'connect');
    if (s.warmup === 0) s.timedStart?.();
    socket.write(Buffer.from(token, 'hex'));
    await done;
    return [];
  }
  const token = randomBytes(TOKEN_BYTES);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const socket = await acceptWithToken(server, token, () => transport.send(peer, { tag: `${tag}.port`, tensors: {}, meta: { port, token: token.toString('hex') } }));
  socket.setNoDelay(true);
  const chunk = Buffer.from(filledChunk(s.chunkBytes).buffer);
  const acks = new AckCounter(socket);
  socket.resume(); // acceptWithToken hands it over paused
  const ms: number[] = [];
  try {
    for (let round = 0; round < s.rounds; round++) {
      if (round === s.warmup) s.timedStart?.();
      const t0 = performance.now();
      for (let c = 0; c < s.chunks; c++) {
        if (!socket.write(chunk)) await once(socket, 'drain');
      }
      await acks.next();
      ms.push(performance.now() - t0);
    }
  } finally {
    socket.destroy();
  }
  return ms;
}

/** The receiver's read size: Node's own default, so both paths make as many read calls. */
const READ_BYTES = 64 * 1024;

/**
 * `tcp-messages`: reads land, in order, in one chunk-sized buffer, reused chunk after chunk — what
 * a receiver that keeps each message must at least do (the kernel's copy into message memory,
 * which does not stay in cache as one 64 KiB buffer does), and what ringtrain's receiver does with
 * a buffer its consumer handed back (frame-reader.ts).
 */
function messageReads(chunkBytes: number): { next: () => Buffer; advance: (n: number) => void } {
  const message = Buffer.allocUnsafe(chunkBytes);
  let filled = 0; // a read never runs past the chunk's end: it gets only the rest of it
  return { next: () => message.subarray(filled), advance: (n) => void (filled = (filled + n) % chunkBytes) };
}
const TOKEN_BYTES = 16;

/**
 * The first connection that opens with `token`; others are dropped. Bytes after the token are
 * put back for the caller's reader (the receiver's acks). The server is closed once one is
 * accepted.
 */
async function acceptWithToken(server: Server, token: Buffer, announce: () => Promise<unknown>): Promise<Socket> {
  const accepted = new Promise<Socket>((resolve) => {
    server.on('connection', (socket: Socket) => {
      let head = Buffer.alloc(0);
      const onData = (buf: Buffer) => {
        head = Buffer.concat([head, buf]);
        if (head.length < token.length) return;
        socket.off('data', onData);
        if (!timingSafeEqual(head.subarray(0, token.length), token)) {
          socket.destroy();
          return;
        }
        socket.pause();
        const rest = head.subarray(token.length);
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      };
      socket.on('data', onData);
      socket.on('error', () => socket.destroy());
    });
  });
  await announce();
  const socket = await accepted;
  server.close();
  return socket; // paused: the caller resumes it once its reader is attached
}

const ACK = Buffer.from([1]);

/** Counts the receiver's 1-byte acks; next() resolves on the next one (or fails with the socket). */
class AckCounter {
  private pending = 0;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;

  constructor(socket: Socket) {
    socket.on('data', (buf: Buffer) => {
      this.pending += buf.length;
      this.wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.wake();
    });
  }

  next(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.pending > 0) {
      this.pending--;
      this.waiter = null;
      w.resolve();
    } else if (this.error) {
      this.waiter = null;
      w.reject(this.error);
    }
  }
}

function filledChunk(bytes: number): Float32Array {
  const chunk = new Float32Array(bytes / 4);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i % 1024) * 0.5;
  return chunk;
}

/** Every rank has sent to and heard from every other rank: the timed rep starts together. */
async function barrier(transport: Transport, tag: string): Promise<void> {
  const others = Array.from({ length: transport.worldSize }, (_, r) => r).filter((r) => r !== transport.rank);
  await Promise.all(others.flatMap((r) => [transport.send(r, { tag, tensors: {} }), transport.recv(r, tag)]));
}

async function pairBarrier(transport: Transport, peer: number, tag: string): Promise<void> {
  await Promise.all([transport.send(peer, { tag, tensors: {} }), transport.recv(peer, tag)]);
}

/** The kernel with the time spent inside it summed (forward and backward are synchronous). */
function timedKernel(inner: AttentionKernel): AttentionKernel & { ms: number; reset(): void } {
  const timed = {
    name: inner.name,
    ms: 0,
    reset() {
      timed.ms = 0;
    },
    forward: ((inp) => {
      const t0 = performance.now();
      try {
        return inner.forward(inp);
      } finally {
        timed.ms += performance.now() - t0;
      }
    }) as AttentionKernel['forward'],
    backward: ((inp) => {
      const t0 = performance.now();
      try {
        return inner.backward(inp);
      } finally {
        timed.ms += performance.now() - t0;
      }
    }) as AttentionKernel['backward'],
  };
  return timed;
}

/**
 * `native`: the fused native kernel, with tf.matMul on the addon's gemm too (RSA and the merges
 * use tfjs ops). `tfjs`: tfjs ops on tfjs's own CPU kernels. The worker's MatMul is put back as
 * it was after the job.
 */
function chooseKernel(choice: 'native' | 'tfjs', rank: number): { kernel: AttentionKernel; matmul: 'native' | 'tfjs'; restore: () => void } {
  const wasInstalled = nativeKernelsInstalled();
  if (choice === 'native') {
    const status = nativeStatus();
    if (!status.loaded) {
      throw new RingtrainError('NATIVE_UNAVAILABLE', `rank ${rank}: the native kernel is not available: ${status.reason}`, {
        hint: 'build it with `npm run build` (needs a C++ compiler), or pass --kernel tfjs',
      });
    }
    const installed = installNativeKernels();
    return {
      kernel: nativeKernel,
      matmul: installed.installed ? 'native' : 'tfjs',
      restore: () => {
        if (!wasInstalled) uninstallNativeKernels();
      },
    };
  }
  if (wasInstalled) uninstallNativeKernels();
  return {
    kernel: tfjsKernel,
    matmul: 'tfjs',
    restore: () => {
      if (wasInstalled) installNativeKernels();
    },
  };
}
