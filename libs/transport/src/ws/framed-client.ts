import { RingtrainError, optionError, type Logger } from '@ringtrain/core';
import type { Direction } from '@ringtrain/protocol';
import WebSocket from 'ws';
import { SECRET_HEADER } from './auth';
import { FramedConnection } from './framed-connection';
import { defaultTransportLogger } from './logger';
import { compileWsOptions, type WsConfig, type WsOptions } from './options';
import { checkClientTls, clientTlsOptions, type ClientTls } from './tls';
import { plainToTlsHint, tlsConnectError } from './tls-errors';

export interface ConnectOptions<D extends Direction> extends WsOptions {
  /** `ws://host:port/` of a framed server, or `wss://host:port/` of one serving TLS (see wsUrl). */
  url: string;
  /** The job secret. Empty or missing sends none, and the server's 401 becomes AUTH_REJECTED. */
  secret: string;
  /** Direction of the frames this end receives. */
  direction: D;
  /**
   * Keep retrying refused or timed-out connection attempts for this long (the server may not be
   * listening yet). Default 0: one attempt. A 401 is never retried.
   */
  retryForMs?: number;
  /** Aborts the attempt (and any retries) with CONNECT_ABORTED. */
  signal?: AbortSignal;
  /** Names the far end in logs and errors. Default: the url. */
  label?: string;
  logger?: Logger;
  /**
   * Trust exactly this CA for a `wss://` url (needed with it; host names are not checked, see
   * clientTlsOptions). Other fields of the object (a TlsMaterial's cert and key) are ignored.
   * Without it a `wss://` url falls back to Node's default CAs and host name check.
   */
  tls?: ClientTls;
}

const OWN_KEYS = ['url', 'secret', 'direction', 'retryForMs', 'signal', 'label', 'logger', 'tls'];
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;

/**
 * Opens an authenticated WebSocket to a framed server. Rejects with AUTH_REJECTED when the
 * server answers 401, CONNECT_FAILED / CONNECT_TIMEOUT when it cannot be reached, TLS_UNTRUSTED
 * when its certificate does not lead to `tls.ca`, TLS_HANDSHAKE when TLS fails otherwise (e.g. a
 * wss:// dial to a plain server).
 */
export async function connectFramed<D extends Direction>(opts: ConnectOptions<D>): Promise<FramedConnection<D>> {
  const config = compileWsOptions(opts, OWN_KEYS);
  const retryForMs = opts.retryForMs ?? 0;
  if (!Number.isFinite(retryForMs) || retryForMs < 0) throw optionError('retryForMs', retryForMs, 'a number of milliseconds >= 0');
  const logger = opts.logger ?? defaultTransportLogger();
  const label = opts.label ?? opts.url;
  const tls = opts.tls === undefined ? null : checkClientTls(opts.tls);
  if (tls && typeof opts.url === 'string' && !opts.url.startsWith('wss://')) {
    throw optionError('url', opts.url, 'a wss:// URL when tls is given (the server must serve TLS too)');
  }
  const deadline = Date.now() + retryForMs;
  for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
    try {
      // Wrapped inside the 'open' event: frames that arrive with the handshake must meet a listener.
      return await openWebSocket(opts.url, opts.secret, config, tls, opts.signal, (ws) => new FramedConnection(ws, { direction: opts.direction, config, label, logger, framing: config.clientMaskKey === 'zero' ? 'client-zero-mask' : 'client-random-mask' }));
    } catch (e) {
      const retryable = e instanceof RingtrainError && (e.code === 'CONNECT_FAILED' || e.code === 'CONNECT_TIMEOUT');
      if (!retryable || Date.now() + delay > deadline) throw e;
      logger.debug(`connecting to ${label} failed (${e.message}); retrying in ${delay} ms`);
      await sleep(delay, opts.signal);
    }
  }
}

function openWebSocket<T>(url: string, secret: string, config: WsConfig, tls: ClientTls | null, signal: AbortSignal | undefined, wrap: (ws: WebSocket) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(url));
    let settled = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        // Without a secret the server answers 401, which names the real problem (AUTH_REJECTED).
        headers: typeof secret === 'string' && secret.length > 0 ? { [SECRET_HEADER]: secret } : {},
        perMessageDeflate: false,
        maxPayload: config.maxFrameBytes,
        handshakeTimeout: config.connectTimeoutMs,
        followRedirects: false,
        // undefined: ws fills a random key per frame (see WsOptions.clientMaskKey).
        generateMask: config.clientMaskKey === 'zero' ? zeroMask : undefined,
        ...(tls ? clientTlsOptions(tls) : {}),
      });
    } catch (e) {
      return reject(optionError('url', url, `a ws:// or wss:// URL (${(e as Error).message})`));
    }
    const settle = (error: RingtrainError | null) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      if (error) {
        reject(error);
        ws.terminate();
      } else {
        ws.off('error', onError);
        resolve(wrap(ws)); // from here on the wrapper listens
      }
    };
    const onOpen = () => settle(null);
    const onError = (err: Error & { code?: string }) => settle(connectError(url, err));
    const onAbort = () => settle(aborted(url));
    ws.on('open', onOpen);
    // Stays attached after a failure: terminate() reports its own error, which must not go uncaught.
    ws.on('error', onError);
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      if (status === 401) {
        settle(
          new RingtrainError('AUTH_REJECTED', `${url} refused the job secret (HTTP 401)`, {
            hint: 'every process of a job must get the same secret (RINGTRAIN_SECRET)',
            details: { url, status },
          }),
        );
      } else {
        settle(new RingtrainError('CONNECT_FAILED', `${url} answered HTTP ${status} instead of upgrading`, { details: { url, status } }));
      }
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function connectError(url: string, err: Error & { code?: string }): RingtrainError {
  if (/handshake has timed out/i.test(err.message)) {
    return new RingtrainError('CONNECT_TIMEOUT', `opening a WebSocket to ${url} timed out`, { details: { url }, cause: err });
  }
  const tlsError = tlsConnectError(url, err);
  if (tlsError) return tlsError;
  return new RingtrainError('CONNECT_FAILED', `could not connect to ${url}: ${err.message}`, {
    hint: plainToTlsHint(url, err) ?? 'check that the process at that address is running and reachable',
    details: { url, errno: err.code },
    cause: err,
  });
}

function aborted(url: string): RingtrainError {
  return new RingtrainError('CONNECT_ABORTED', `connecting to ${url} was abandoned`, { details: { url } });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
