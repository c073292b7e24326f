import { RingtrainError, listen, optionError, type Logger } from '@ringtrain/core';
import type { Direction } from '@ringtrain/protocol';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { SECRET_HEADER, secretChecker } from './auth';
import { GOING_AWAY } from './close-codes';
import { warnIfCleartext } from './exposure';
import { FramedConnection } from './framed-connection';
import { defaultTransportLogger } from './logger';
import { compileWsOptions, type WsOptions } from './options';
import { RateLimitedLog } from './rate-limited-log';
import { checkServerTls, type ServerTls } from './tls';
import { wsUrl } from './url';

export interface FramedServerOptions<D extends Direction> extends WsOptions {
  /** Direction of the frames this server receives. */
  direction: D;
  /** The job secret every upgrade must present in the `x-ringtrain-secret` header. */
  secret: string;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one, reported as `port`. */
  port?: number;
  /** Called once per authenticated connection, before any of its frames are dispatched. */
  onConnection: (conn: FramedConnection<D>, req: IncomingMessage) => void;
  logger?: Logger;
  /** Serve TLS (an `https` server, `wss://` URLs) with this certificate and key (PEM). Default: none. */
  tls?: ServerTls;
}

export interface FramedServer<D extends Direction> {
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  readonly url: string;
  /** Open connections. */
  readonly connections: ReadonlySet<FramedConnection<D>>;
  /** Connection attempts refused so far (401, 426, 503, failed TLS handshakes), logged or not. */
  readonly refusedAttempts: number;
  /** Stops accepting, closes every connection (1001) and the listener. Idempotent. */
  close(): Promise<void>;
}

const OWN_KEYS = ['direction', 'secret', 'host', 'port', 'onConnection', 'logger', 'tls'];

/** Refused attempts logged one by one per window; the rest are summed up when it ends. */
const REFUSALS_LOGGED_PER_WINDOW = 5;
const REFUSAL_WINDOW_MS = 60_000;

/**
 * An HTTP (or, with `tls`, HTTPS) server that only upgrades to WebSocket, and only for requests
 * carrying the job secret; anything else gets 401 (wrong or missing secret) or 426 (not an
 * upgrade). Each accepted socket becomes a FramedConnection for `direction`. Refusals are logged
 * at a bounded rate, since anyone who can reach the port can cause them; a server without TLS
 * on a non-loopback address warns that the secret and tensors travel in clear text.
 */
export async function listenFramed<D extends Direction>(opts: FramedServerOptions<D>): Promise<FramedServer<D>> {
  const config = compileWsOptions(opts, OWN_KEYS);
  if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw optionError('secret', '<hidden>', 'a non-empty string');
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw optionError('port', port, 'an integer from 0 to 65535');
  const tls = opts.tls === undefined ? null : checkServerTls(opts.tls);
  const logger = opts.logger ?? defaultTransportLogger();
  const secretMatches = secretChecker(opts.secret);
  const connections = new Set<FramedConnection<D>>();
  let closing: Promise<void> | null = null;
  let where = `${host}:${port}`; // the bound port once listening
  const refusals = new RateLimitedLog({
    limit: REFUSALS_LOGGED_PER_WINDOW,
    windowMs: REFUSAL_WINDOW_MS,
    write: (line) => logger.warn(line, { code: 'CONNECTION_REFUSED' }),
    summary: (count, elapsedMs) => `${count} more refused connection attempt${count === 1 ? '' : 's'} on ${where} in the last ${Math.round(elapsedMs / 1000)} s`,
  });

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: config.maxFrameBytes, clientTracking: false });
  const notAnUpgrade: RequestListener = (req, res) => {
    refusals.note(() => `refused a plain HTTP request from ${remote(req)} (426: not a WebSocket upgrade)`);
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
    res.end('ringtrain: WebSocket upgrade required\n');
  };
  const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, notAnUpgrade) : createServer(notAnUpgrade);
  // Without a listener Node drops the socket silently; with one we can say why (plain ws:// to a
  // TLS port, or a client that does not trust our certificate).
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const from = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a client';
    refusals.note(() => `refused a connection from ${from}: TLS handshake failed: ${handshakeFailure(err)}`);
    socket.destroy();
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy()); // a reset mid-handshake must not become an uncaught error
    const peer = remote(req);
    if (closing) {
      refusals.note(() => `refused an upgrade from ${peer}: server closing (503)`);
      return refuse(socket, 503, 'Service Unavailable');
    }
    if (!secretMatches(req.headers[SECRET_HEADER])) {
      refusals.note(() => `refused an upgrade from ${peer}: ${req.headers[SECRET_HEADER] === undefined ? 'no' : 'wrong'} job secret (401)`);
      return refuse(socket, 401, 'Unauthorized');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new FramedConnection(ws, { direction: opts.direction, config, label: peer, logger, framing: 'server' });
      connections.add(conn);
      void conn.closed.then(() => connections.delete(conn));
      if (closing) {
        void conn.close(GOING_AWAY, 'server closing');
        return;
      }
      try {
        opts.onConnection(conn, req);
      } catch (e) {
        void conn.fail(new RingtrainError('HANDLER_FAILED', `accepting ${peer} failed: ${(e as Error)?.message ?? e}`, { cause: e }));
      }
    });
  });

  await listen(server, port, host).catch((e: NodeJS.ErrnoException) => {
    throw new RingtrainError('LISTEN_FAILED', `could not listen on ${host}:${port}: ${e.message}`, {
      hint: e.code === 'EADDRINUSE' ? 'another process holds that port; pass port 0 for a free one' : undefined,
      details: { host, port, errno: e.code },
      cause: e,
    });
  });
  server.on('error', (e) => logger.error(`server on ${host}:${port} failed: ${e.message}`));
  const bound = (server.address() as AddressInfo).port;
  where = `${host}:${bound}`;
  warnIfCleartext(logger, host, bound, tls !== null);

  return {
    host,
    port: bound,
    url: wsUrl(host, bound, tls ? 'wss' : 'ws'),
    connections,
    get refusedAttempts() {
      return refusals.total;
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...connections].map((c) => c.close(GOING_AWAY, 'server closing')));
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections(); // idle plain-HTTP keep-alive sockets
        await done;
        wss.close();
        refusals.flush();
      })();
      return closing;
    },
  };
}

function handshakeFailure(err: Error & { code?: string }): string {
  if (err.code === 'ERR_SSL_HTTP_REQUEST') return 'it spoke plain HTTP (a ws:// client)';
  if (err.code === 'ECONNRESET') return 'the client hung up (it may not trust this certificate)';
  return err.message;
}

function remote(req: IncomingMessage): string {
  return `${req.socket.remoteAddress}:${req.socket.remotePort}`;
}

/** Answers a refused upgrade and drops the socket once the answer is written. */
function refuse(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}
