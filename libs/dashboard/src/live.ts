import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '@ringtrain/core';
import type { LiveMessage } from './types';

export interface LiveHubOptions {
  /** A client whose unsent data would exceed this is dropped (it does not read). Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Ping period; a client that missed the previous pong is dropped. Default 30 s. */
  pingIntervalMs?: number;
  /** Clients at once; more are refused. Default 64. */
  maxClients?: number;
}

/**
 * The /live WebSocket: each client gets a snapshot when it connects, then every change as it
 * lands. A page only listens (what it sends is ignored, at most 1 KiB a message). A client that
 * stops reading is dropped rather than buffered without bound: before each send its
 * `bufferedAmount` (bytes the socket has not written yet) plus the message is held against
 * `maxBufferedBytes`.
 */
export class LiveHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pinger: NodeJS.Timeout;
  private readonly maxBufferedBytes: number;
  private readonly maxClients: number;

  constructor(
    private readonly logger: Logger,
    private readonly snapshot: () => LiveMessage,
    opts: LiveHubOptions = {},
  ) {
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.maxClients = opts.maxClients ?? 64;
    this.pinger = setInterval(() => this.ping(), opts.pingIntervalMs ?? 30_000);
    this.pinger.unref();
  }

  get clients(): number {
    return this.wss.clients.size;
  }

  /** Takes over an HTTP upgrade to /live (already checked for path, host and origin). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.wss.clients.size >= this.maxClients) {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nmore than ${this.maxClients} live clients\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.alive.set(ws, true);
      ws.on('pong', () => this.alive.set(ws, true));
      ws.on('message', () => undefined);
      ws.on('error', (e) => this.logger.debug(`live client: ${e.message}`));
      this.send(ws, JSON.stringify(this.snapshot()));
    });
  }

  broadcast(messages: readonly LiveMessage[]): void {
    if (messages.length === 0 || this.wss.clients.size === 0) return;
    const texts = messages.map((m) => JSON.stringify(m));
    for (const ws of this.wss.clients) {
      for (const text of texts) if (!this.send(ws, text)) break;
    }
  }

  /** Sends, or drops a client that is not keeping up; false when the client is gone. */
  private send(ws: WebSocket, text: string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount + Buffer.byteLength(text) > this.maxBufferedBytes) {
      this.logger.warn(`dropping a live client that is not reading: ${ws.bufferedAmount} bytes unsent, over the ${this.maxBufferedBytes}-byte cap`);
      ws.terminate();
      return false;
    }
    ws.send(text);
    return true;
  }

  private ping(): void {
    for (const ws of this.wss.clients) {
      if (this.alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }

  close(): void {
    clearInterval(this.pinger);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
