import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
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
import { getStrategy } from '../strategies/registry';
import { problemFromParams, type JobEnv, type JobOutput } from './attention-job';
import { int, str, tensor } from './job-params';

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
 * between the same two processes; the sender times first byte to the receiver's ack.
 */
const TIMING_COLUMNS = 3; // wallMs, kernelMs, waitMs
const RUNS = ['distributed', 'alone', 'all-alone'];

export async function benchAttentionJob(env: JobEnv, jobId: string, params: Record<string, unknown>, tensors: Record<string, WireTensor>): Promise<JobOutput> {
  const strategy = getStrategy(str(params, 'strategy'));
  const problem = problemFromParams(params);
  const reps = atLeast(params, 'reps', 1);
  const warmup = atLeast(params, 'warmup', 0);
  const run = str(params, 'run');
  if (!RUNS.includes(run)) throw new RingtrainError('BAD_JOB', `job parameter "run" must be one of ${RUNS.join(', ')}, got ${JSON.stringify(run)}`);
  const kernelChoice = str(params, 'kernel');
  if (run === 'alone' && env.transport.rank !== 0) return { tensors: {}, meta: { idle: true } };

  const pos = tensor(tensors, 'pos', 'int32');
  const S = pos.shape[0];
  const { heads: H, kvHeads: Hkv, headDim: D } = problem;
  const shard = {
    q: tensor(tensors, 'q', 'float32', [S, H, D]).data as Float32Array,
    k: tensor(tensors, 'k', 'float32', [S, Hkv, D]).data as Float32Array,
    v: tensor(tensors, 'v', 'float32', [S, Hkv, D]).data as Float32Array,
    dout: tensor(tensors, 'dout', 'float32', [S, H, D]).data as Float32Array,
    pos: pos.data as Int32Array,
  };
  const transport = run === 'distributed' ? env.transport : createInMemoryWorld(1)[0];
  const synchronized = run !== 'alone' && env.transport.worldSize > 1;
  const choice = chooseKernel(kernelChoice, env.transport.rank);
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
        shardTokens: S,
      },
    };
  } finally {
    choice.restore();
  }
}

export async function benchTransportJob(env: JobEnv, jobId: string, params: Record<string, unknown>): Promise<JobOutput> {
  const mode = str(params, 'mode');
  if (mode !== 'ws' && mode !== 'tcp') throw new RingtrainError('BAD_JOB', `job parameter "mode" must be "ws" or "tcp", got ${JSON.stringify(mode)}`);
  const { transport } = env;
  const from = rankParam(params, 'from', transport.worldSize);
  const to = rankParam(params, 'to', transport.worldSize);
  if (from === to) throw new RingtrainError('BAD_JOB', `bench-transport needs two ranks, got from = to = ${from}`);
  const chunkBytes = atLeast(params, 'chunkBytes', 4);
  if (chunkBytes % 4 !== 0) throw new RingtrainError('BAD_JOB', `job parameter "chunkBytes" must be a multiple of 4, got ${chunkBytes}`);
  const stream: Stream = { chunkBytes, chunks: atLeast(params, 'chunks', 1), rounds: atLeast(params, 'warmup', 0) + atLeast(params, 'reps', 1), warmup: atLeast(params, 'warmup', 0) };
  const { rank } = transport;
  if (rank !== from && rank !== to) return { tensors: {}, meta: { idle: true } };
  const peer = rank === from ? to : from;
  const ms = mode === 'ws'
    ? await streamOverTransport(transport, rank === from, peer, `${jobId}.ws`, stream)
    : await streamOverTcp(transport, rank === from, peer, `${jobId}.tcp`, stream);
  if (rank !== from) return { tensors: {}, meta: { receiver: true } };
  const timed = Float32Array.from(ms.slice(stream.warmup));
  return { tensors: { ms: { dtype: 'float32', shape: [timed.length], data: timed } }, meta: { sender: true, bytesPerRound: chunkBytes * stream.chunks } };
}

interface Stream {
  chunkBytes: number;
  chunks: number;
  /** warmup + reps */
  rounds: number;
  warmup: number;
}

/** Data frames through the real transport; returns the sender's ms per round (receiver: []). */
async function streamOverTransport(transport: Transport, sending: boolean, peer: number, tag: string, s: Stream): Promise<number[]> {
  const chunk = filledChunk(s.chunkBytes);
  const data: WireTensor = { dtype: 'float32', shape: [chunk.length], data: chunk };
  const ms: number[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const t = `${tag}.${round}`;
    await pairBarrier(transport, peer, `${t}.ready`);
    if (sending) {
      const t0 = performance.now();
      for (let c = 0; c < s.chunks; c++) await transport.send(peer, { tag: t, tensors: { x: data } });
      await transport.recv(peer, `${t}.ack`);
      ms.push(performance.now() - t0);
    } else {
      for (let c = 0; c < s.chunks; c++) await transport.recv(peer, t);
      await transport.send(peer, { tag: `${t}.ack`, tensors: {} });
    }
  }
  return ms;
}

/**
 * The same volume over a plain TCP socket on 127.0.0.1 between the same two processes: the
 * receiver listens and passes its port through the transport; one connection serves every
 * round (as one ws link does); the receiver answers each round's last byte with a 1-byte ack.
 */
async function streamOverTcp(transport: Transport, sending: boolean, peer: number, tag: string, s: Stream): Promise<number[]> {
  const roundBytes = s.chunkBytes * s.chunks;
  if (!sending) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    await transport.send(peer, { tag: `${tag}.port`, tensors: {}, meta: { port } });
    const [socket] = await accepted;
    server.close();
    await new Promise<void>((resolve, reject) => {
      let received = 0;
      let acked = 0;
      socket.on('error', reject);
      socket.on('data', (buf: Buffer) => {
        received += buf.length;
        while (received >= roundBytes && acked < s.rounds) {
          received -= roundBytes;
          acked++;
          if (acked === s.rounds) socket.end(ACK, () => resolve());
          else socket.write(ACK);
        }
      });
    });
    return [];
  }
  const msg = await transport.recv(peer, `${tag}.port`);
  const port = msg.meta?.port;
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new RingtrainError('BAD_JOB', `rank ${peer} sent no TCP port for the baseline, got ${JSON.stringify(port)}`);
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const chunk = Buffer.from(filledChunk(s.chunkBytes).buffer);
  const acks = new AckCounter(socket);
  const ms: number[] = [];
  try {
    for (let round = 0; round < s.rounds; round++) {
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
function chooseKernel(choice: string, rank: number): { kernel: AttentionKernel; matmul: 'native' | 'tfjs'; restore: () => void } {
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
  if (choice === 'tfjs') {
    if (wasInstalled) uninstallNativeKernels();
    return {
      kernel: tfjsKernel,
      matmul: 'tfjs',
      restore: () => {
        if (wasInstalled) installNativeKernels();
      },
    };
  }
  throw new RingtrainError('BAD_JOB', `job parameter "kernel" must be "native" or "tfjs", got ${JSON.stringify(choice)}`);
}

function atLeast(params: Record<string, unknown>, field: string, min: number): number {
  const v = int(params, field);
  if (v < min) throw new RingtrainError('BAD_JOB', `job parameter "${field}" must be at least ${min}, got ${v}`);
  return v;
}

function rankParam(params: Record<string, unknown>, field: string, worldSize: number): number {
  const v = int(params, field);
  if (v < 0 || v >= worldSize) throw new RingtrainError('BAD_JOB', `job parameter "${field}" must be a rank below ${worldSize}, got ${v}`);
  return v;
}
