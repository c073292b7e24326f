/*
 * A peer that floods one real worker's data plane with large valid frames nobody consumes, while
 * the worker's memory is read from /proc (benchmarks/flood.mjs, flood-memory.e2e.test.ts).
 *
 * The world has two ranks: rank 0 is a real `ringtrain worker` process, rank 1 is this process.
 * Once a world has formed, every rank of it is linked and a second hello naming a linked rank is
 * refused (DUPLICATE_PEER), so the flooding peer takes rank 1's place from the start: it
 * registers with the (real) coordinator, dials rank 0 with the job secret and a valid hello,
 * answers rank 0's hello with `ready`, and answers its own share of jobs. It then writes frame
 * after frame as fast as the kernel takes them (no high-water mark); what the worker refuses to
 * read stays in the kernel's socket buffers and in this process's write queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import WebSocket from 'ws';
import { MODEL_PRESETS, OPTIM_DEFAULTS } from '@ringtrain/config';
import { Coordinator } from '@ringtrain/coordinator';
import { createLogger, type Logger } from '@ringtrain/core';
import { PROTOCOL_VERSION, decodeFrame, encodeFrame, type CoordinatorToWorkerMsg } from '@ringtrain/protocol';
import { SECRET_HEADER, connectToCoordinator, type CoordinatorConnection } from '@ringtrain/transport';

export interface FloodOptions {
  /** The CLI the worker runs (dist/ringtrain.cjs, or a build with other defaults). */
  cli: string;
  /** The worker's --max-frame-bytes; each flood frame is this size (msgpack header included). */
  maxFrameBytes: number;
  frames: number;
  sampleMs?: number;
  /** The flood is over when the attacker's socket has made no progress for this long. */
  stallMs?: number;
  /** After every frame is written, keep sampling this long (the worker is still decoding). */
  settleMs?: number;
  /** Give up on the flood after this long (the report then says so). */
  floodTimeoutMs?: number;
  logger?: Logger;
}

export interface FloodReport {
  cli: string;
  workerPid: number;
  maxFrameBytes: number;
  /** The worker's budget: 2 × maxFrameBytes (the default; `ringtrain worker` has no flag for it). */
  maxQueuedBytes: number;
  frameBytes: number;
  frames: number;
  /** VmRSS after the world formed and a first job ran. */
  baselineRssBytes: number;
  /** VmHWM before the flood (start-up included). */
  hwmBeforeBytes: number;
  /** Highest VmRSS sampled during the flood. */
  peakSampledRssBytes: number;
  /** VmHWM after the flood: the peak between samples too (or start-up's, if that was higher). */
  hwmAfterBytes: number;
  /** max(peakSampledRssBytes, hwmAfterBytes): what the bound is checked against. */
  peakRssBytes: number;
  /** Frames whose every byte the attacker's kernel accepted. */
  framesWritten: number;
  /** Bytes of the flood that never left the attacker (not yet written to its socket) when the flood ended. */
  stuckBytes: number;
  /** frames × frameBytes − stuckBytes: what the attacker's kernel took (the socket buffers hold a few MiB of it, the worker read the rest). */
  writtenBytes: number;
  floodMs: number;
  /** How the flood ended: every frame written, no progress for stallMs, or floodTimeoutMs. */
  ended: 'written' | 'stalled' | 'timeout';
  samples: number;
  /** The worker process still runs, the coordinator still lists it, and it ran train-init again. */
  alive: boolean;
  hashBefore: string;
  hashAfter: string | null;
  /** The train-init after the flood, or why it failed. */
  afterJobMs: number | null;
  afterJobError: string | null;
  /** How rank 0 closed the attacker's link, if it did (e.g. `4429 MAILBOX_FULL: …`); null while open. */
  linkClosed: string | null;
  /** The worker's last lines of output. */
  workerTail: string[];
}

const SECRET = 'flood-harness-secret';
const HARNESS_HASH = 'flood-harness';
const zeroMask = (mask: Buffer) => mask.fill(0);

export async function runFlood(opts: FloodOptions): Promise<FloodReport> {
  const logger = opts.logger ?? createLogger({ name: 'flood', level: 'error' });
  const sampleMs = opts.sampleMs ?? 100;
  const coordinator = await Coordinator.start({ worldSize: 2, secret: SECRET, rendezvousTimeoutMs: 60000, jobTimeoutMs: 60000, logger });
  const worker = spawnWorker(opts, coordinator.url);
  const dataPortHolder = await listenAnywhere(); // rank 1's advertised data port; rank 0 never dials it
  const conn = await connectToCoordinator({ url: coordinator.url, secret: SECRET, retryForMs: 10000, label: 'coordinator', logger });
  let attacker: WebSocket | null = null;
  try {
    const linked = serveRank1(conn, dataPortHolder);
    linked.then((ws) => (attacker = ws), () => undefined);
    const died = worker.exited.then(() => Promise.reject(new Error(`worker 0 exited (${worker.child.signalCode ?? worker.child.exitCode}) before the world formed`)));
    await Promise.race([coordinator.waitForWorld(), failureOf(linked), died]);
    const ws = await linked;
    let linkClosed: string | null = null;
    ws.on('close', (code, reason) => (linkClosed = `${code} ${reason.toString()}`));

    const hashBefore = (await trainInit(coordinator)).hash;
    await sleep(1000);
    const baselineRssBytes = readStatus(worker.pid).rss;
    const hwmBeforeBytes = readStatus(worker.pid).hwm;

    const frame = floodFrame(opts.maxFrameBytes);
    const flood = await sendFlood(ws, frame, opts, worker.pid, sampleMs);
    const hwmAfterBytes = readStatus(worker.pid).hwm;

    // Liveness while the link is still jammed: the control plane and the worker's compute.
    let hashAfter: string | null = null, afterJobMs: number | null = null, afterJobError: string | null = null;
    const t0 = Date.now();
    try {
      hashAfter = (await trainInit(coordinator)).hash;
      afterJobMs = Date.now() - t0;
    } catch (e) {
      afterJobError = (e as Error).message;
    }
    const listed = coordinator.workers.some((w) => w.rank === 0 && w.pid === worker.pid);
    const alive = worker.child.exitCode === null && worker.child.signalCode === null && listed && hashAfter === hashBefore;
    return {
      cli: opts.cli,
      workerPid: worker.pid,
      maxFrameBytes: opts.maxFrameBytes,
      maxQueuedBytes: 2 * opts.maxFrameBytes,
      frameBytes: frame.byteLength,
      frames: opts.frames,
      baselineRssBytes,
      hwmBeforeBytes,
      peakSampledRssBytes: flood.peakRss,
      hwmAfterBytes,
      peakRssBytes: Math.max(flood.peakRss, hwmAfterBytes),
      framesWritten: flood.framesWritten,
      stuckBytes: flood.stuckBytes,
      writtenBytes: opts.frames * frame.byteLength - flood.stuckBytes,
      floodMs: flood.ms,
      ended: flood.ended,
      samples: flood.samples,
      alive,
      hashBefore,
      hashAfter,
      afterJobMs,
      afterJobError,
      linkClosed,
      workerTail: [...worker.tail],
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\nworker 0's last output:\n${worker.tail.join('\n')}`);
  } finally {
    (attacker as WebSocket | null)?.terminate();
    await coordinator.shutdown('flood done').catch(() => undefined);
    await conn.close().catch(() => undefined);
    await Promise.race([worker.exited, sleep(5000)]);
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    dataPortHolder.close();
  }
}

interface SpawnedWorker {
  child: ChildProcess;
  pid: number;
  tail: string[];
  /** Resolves when the process exits, however it exits. */
  exited: Promise<void>;
}

/** Rank 0 as `ringtrain train` would start it (LocalLauncher's environment), with the flood's frame limit. */
function spawnWorker(opts: FloodOptions, coordinatorUrl: string): SpawnedWorker {
  const child = spawn(process.execPath, [opts.cli, 'worker', '--coordinator', coordinatorUrl, '--max-frame-bytes', String(opts.maxFrameBytes), '--backend', 'cpu', '--no-rejoin'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RINGTRAIN_SECRET: SECRET, RANK: '0', LOCAL_RANK: '0', WORLD_SIZE: '2', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
  });
  if (child.pid === undefined) throw new Error(`could not start ${opts.cli} worker`);
  const tail: string[] = [];
  const keep = (d: Buffer) => {
    tail.push(...d.toString('utf8').split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, pid: child.pid, tail, exited };
}

/**
 * Rank 1's side of the control plane: register, link with rank 0 when the world arrives, report
 * ready, answer every job with a placeholder result. Resolves with the data-plane socket.
 */
function serveRank1(conn: CoordinatorConnection, dataPort: Server): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const serve = async () => {
      await conn.send({ t: 'register', v: PROTOCOL_VERSION, rank: 1, host: '127.0.0.1', dataPort: (dataPort.address() as AddressInfo).port, pid: process.pid, worldSize: 2 });
      for await (const msg of conn.messages() as AsyncIterable<CoordinatorToWorkerMsg>) {
        if (msg.t === 'world') {
          const rank0 = msg.peers.find((p) => p.rank === 0)!;
          const ws = await dialRank0(`ws://${rank0.host}:${rank0.port}/`);
          await conn.send({ t: 'ready', rank: 1, backend: 'none', device: 'flood harness' });
          resolve(ws);
        } else if (msg.t === 'job') {
          await conn.send({ t: 'result', jobId: msg.jobId, tensors: [], meta: { hash: HARNESS_HASH } });
        } else if (msg.t === 'shutdown') {
          return;
        }
      }
    };
    serve().catch(reject);
  });
}

/** Dials rank 0 with the job secret and a valid hello naming rank 1; resolves once rank 0's hello answers. */
function dialRank0(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { [SECRET_HEADER]: SECRET }, perMessageDeflate: false, generateMask: zeroMask });
    ws.once('open', () => ws.send(encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, rank: 1, worldSize: 2 })));
    ws.once('message', (data: Buffer) => {
      const hello = decodeFrame(data, 'peer');
      if (hello.t === 'hello' && hello.rank === 0) resolve(ws);
      else reject(new Error(`rank 0 answered ${hello.t}`));
    });
    ws.once('close', (code, reason) => reject(new Error(`rank 0 closed the link: ${code} ${reason.toString()}`)));
    ws.on('error', reject);
  });
}

async function trainInit(coordinator: Coordinator): Promise<{ hash: string }> {
  const request = { params: { model: { ...MODEL_PRESETS.tiny, vocabSize: 260 }, optim: { ...OPTIM_DEFAULTS, totalSteps: 10 }, seed: 7, strategy: 'ring' as const }, tensors: {} };
  const results = await coordinator.runJob('train-init', [request, request]);
  return { hash: results.find((r) => r.rank === 0)!.meta.hash };
}

/** One valid data frame of at most maxFrameBytes: a float32 tensor filling it, as the real encoder writes it. */
function floodFrame(maxFrameBytes: number): Buffer {
  const elements = Math.floor((maxFrameBytes - 256) / 4);
  const frame = encodeFrame({ t: 'data', tag: 'flood', tensors: [{ name: 'x', dtype: 'float32', shape: [elements], bytes: new Uint8Array(elements * 4) }] });
  if (frame.byteLength > maxFrameBytes) throw new Error(`the flood frame (${frame.byteLength} bytes) exceeds ${maxFrameBytes}`);
  return frame;
}

interface FloodOutcome {
  peakRss: number;
  framesWritten: number;
  stuckBytes: number;
  ms: number;
  ended: FloodReport['ended'];
  samples: number;
}

/**
 * Hands each frame to the socket as soon as the kernel took the previous one (so the count of
 * whole frames written is exact), and samples the worker until the flood is written, stalls or
 * times out. Bytes still in this process are libuv's write queue (`_handle.writeQueueSize`:
 * `ws.bufferedAmount` counts a partly written frame whole).
 */
function sendFlood(ws: WebSocket, frame: Buffer, opts: FloodOptions, pid: number, sampleMs: number): Promise<FloodOutcome> {
  const stallMs = opts.stallMs ?? 3000, settleMs = opts.settleMs ?? 2000, timeoutMs = opts.floodTimeoutMs ?? 120000;
  const socket = (ws as unknown as { _socket: { _handle: { writeQueueSize: number } | null } })._socket;
  const start = Date.now();
  let framesWritten = 0, peakRss = 0, samples = 0;
  let lastStuck = -1, lastProgress = start, writtenAt: number | null = null;
  const sendNext = () => {
    if (framesWritten >= opts.frames) return;
    ws.send(frame, { binary: true }, (err) => {
      if (err) return;
      framesWritten++;
      sendNext();
    });
  };
  sendNext();
  return new Promise((resolve) => {
    const sample = () => {
      const now = Date.now();
      try {
        peakRss = Math.max(peakRss, readStatus(pid).rss);
        samples++;
      } catch {
        // the worker is gone; the report says so through `alive`
      }
      const stuck = socket._handle?.writeQueueSize ?? 0;
      if (stuck !== lastStuck || framesWritten === opts.frames) {
        lastStuck = stuck;
        lastProgress = now;
      }
      if (framesWritten === opts.frames) writtenAt ??= now;
      const ended: FloodReport['ended'] | null =
        writtenAt !== null && now - writtenAt >= settleMs ? 'written'
        : writtenAt === null && now - lastProgress >= stallMs ? 'stalled'
        : now - start >= timeoutMs ? 'timeout'
        : null;
      if (!ended) return;
      clearInterval(timer);
      // Frames not yet handed to the socket never left this process either.
      const unsent = Math.max(0, opts.frames - framesWritten - 1) * frame.byteLength;
      resolve({ peakRss, framesWritten, stuckBytes: framesWritten === opts.frames ? 0 : stuck + unsent, ms: now - start, ended, samples });
    };
    const timer = setInterval(sample, sampleMs);
    sample();
  });
}

/** VmRSS and VmHWM of a process, in bytes. */
export function readStatus(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

function listenAnywhere(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Rejects when `p` rejects; never resolves. */
function failureOf(p: Promise<unknown>): Promise<never> {
  return p.then(() => new Promise<never>(() => undefined));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
