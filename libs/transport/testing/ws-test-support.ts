/* Helpers for this folder's tests (not exported from the package). */
import { createLogger, type Logger } from '@ringtrain/core';
import { Writable } from 'node:stream';
import winston from 'winston';
import { decodeFrame, encodeFrame, PROTOCOL_VERSION, type Msg, type PeerMsg } from '@ringtrain/protocol';
import WebSocket from 'ws';
import { SECRET_HEADER } from '../src/ws/auth';
import { startPeerServer, type PeerServer, type PeerServerOptions } from '../src/ws/peer-server';
import type { WsOptions } from '../src/ws/options';
import type { WsTransport } from '../src/ws/ws-transport';

export const SECRET = 'test-secret-0123456789';

/** Expected coded closes are logged at warn; keep test output to real errors. */
export function quietLogger(): Logger {
  return createLogger({ name: 'test', level: process.env.RINGTRAIN_TEST_LOG_LEVEL ?? 'error' });
}

/** A logger that keeps every line it is given (level, message, meta) for a test to read. */
export function capturingLogger(): { logger: Logger; lines: Array<{ level: string; message: string; code?: unknown }> } {
  const lines: Array<{ level: string; message: string; code?: unknown }> = [];
  const sink = new Writable({
    objectMode: true, // winston's Stream transport then writes each info object as is
    write(info: { level: string; message: string; code?: unknown }, _encoding, done) {
      lines.push({ level: info.level, message: info.message, code: info.code });
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream: sink })] }), lines };
}

export interface Mesh {
  servers: PeerServer[];
  transports: WsTransport[];
  close(): Promise<void>;
}

/** Starts P peer servers on 127.0.0.1 and connects the full mesh. */
export async function startMesh(worldSize: number, opts: WsOptions & Pick<PeerServerOptions, 'tls' | 'logger'> = {}): Promise<Mesh> {
  const logger = quietLogger();
  const servers = await Promise.all(
    Array.from({ length: worldSize }, (_, rank) => startPeerServer({ rank, worldSize, secret: SECRET, port: 0, logger, ...opts })),
  );
  const peers = servers.map((s) => ({ rank: s.rank, host: s.host, port: s.port }));
  const transports = await Promise.all(servers.map((s) => s.connectMesh(peers, { timeoutMs: 5000 })));
  return { servers, transports, close: async () => void (await Promise.all(transports.map((t) => t.close()))) };
}

/**
 * A hand-driven WebSocket peer: sends whatever bytes a test wants (valid or not) and records
 * what comes back, so tests can play a broken or hostile rank.
 */
export class RawPeer {
  readonly received: PeerMsg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      this.received.push(decodeFrame(data as Buffer, 'peer'));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /**
   * `zeroMask`: mask with the all-zero key, as ringtrain's own client does, so the frames take the
   * receiver's own reading path (frame-reader.ts) rather than ws's.
   */
  static async connect(url: string, opts: { secret?: string; autoPong?: boolean; maxPayload?: number; zeroMask?: boolean } = {}): Promise<RawPeer> {
    const ws = new WebSocket(url, {
      ...(opts.zeroMask ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
      headers: opts.secret === undefined ? {} : { [SECRET_HEADER]: opts.secret },
      perMessageDeflate: false,
      autoPong: opts.autoPong ?? true,
      maxPayload: opts.maxPayload,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawPeer(ws);
  }

  /** Dials as `rank` and completes the hello exchange. */
  static async linked(url: string, rank: number, worldSize: number, opts: { autoPong?: boolean; zeroMask?: boolean } = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(url, { secret: SECRET, ...opts });
    peer.sendMsg({ t: 'hello', v: PROTOCOL_VERSION, rank, worldSize });
    await peer.next();
    return peer;
  }

  sendMsg(msg: Msg): void {
    this.ws.send(encodeFrame(msg));
  }

  sendRaw(data: Buffer | string): void {
    this.ws.send(data);
  }

  /** Bytes straight onto the socket, WebSocket framing and all. */
  sendBytes(bytes: Buffer): void {
    (this.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(bytes);
  }

  /** Resolves with the next received message not yet consumed by next(). */
  async next(): Promise<PeerMsg> {
    while (this.consumed >= this.received.length) await new Promise<void>((r) => this.waiters.push(r));
    return this.received[this.consumed++];
  }
  private consumed = 0;

  close(): void {
    this.ws.terminate();
  }
}

export function f32(values: number[] | Float32Array, shape?: number[]) {
  const data = Float32Array.from(values);
  return { dtype: 'float32' as const, shape: shape ?? [data.length], data };
}

export function i32(values: number[] | Int32Array, shape?: number[]) {
  const data = Int32Array.from(values);
  return { dtype: 'int32' as const, shape: shape ?? [data.length], data };
}

/** Deterministic pseudo-random floats. */
export function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))),
  ]);
}

/** What a promise settles with: its value, or its rejection as a value (so it is never unhandled). */
export function settle<T>(p: Promise<T>): Promise<T | Error> {
  return p.then(
    (v) => v,
    (e: Error) => e,
  );
}
