import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RingtrainError, createLogger, listen, optionError, type Logger } from '@ringtrain/core';
import { RunMetrics } from '@ringtrain/telemetry';
import { loadPageAssets } from './assets';
import { secretCheck } from './auth';
import { LiveHub } from './live';
import { runSnapshotOf } from './prom';
import { RUN_FILES, RunState } from './run-state';
import type { ActionAnswer } from './types';

/** What the dashboard's buttons do in the process that runs the training. */
export interface DashboardActions {
  /** Take a checkpoint after the current step. */
  checkpoint(): void;
  /** Stop after the current step, with a checkpoint. */
  stop(): void;
}

export interface DashboardOptions {
  /** The run directory whose files are served. */
  runDir: string;
  /** Interface to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; 0 takes any free one. Default 0. */
  port?: number;
  /** The job secret the actions require (x-ringtrain-secret); null: read-only, actions refused. */
  secret: string | null;
  actions?: DashboardActions;
  logger?: Logger;
  /** How often the run directory is read for changes. Default 500 ms. */
  pollIntervalMs?: number;
  /** A /live client with more unsent bytes than this is dropped. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Metric points per chart before every n-th step is shown. Default 5000. */
  maxPoints?: number;
}

export interface Dashboard {
  /** Where to point a browser, e.g. http://127.0.0.1:41234/ */
  url: string;
  close(): Promise<void>;
}

export const SECRET_HEADER = 'x-ringtrain-secret';
const ACTIONS = ['checkpoint', 'stop'] as const;
type ActionName = (typeof ACTIONS)[number];
const ACTION_DONE: Record<ActionName, string> = {
  checkpoint: 'checkpoint requested: it is saved after the current step',
  stop: 'stop requested: the run stops after the current step, with a checkpoint',
};
export const READ_ONLY_MESSAGE = 'read-only: served from files';

const PAGE_HEADERS = {
  // Everything the page loads comes from this server; nothing from outside the machine.
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * The dashboard's HTTP server: the page (bundled into dist/dashboard), the run's state built
 * from its files (GET /api/state, /api/trace?step=N, /metrics for Prometheus, /trace.json), the
 * /live WebSocket that pushes changes as they land, and the actions (POST
 * /api/actions/checkpoint, /api/actions/stop), which need the job secret. docs/dashboard.md.
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw optionError('--port', port, 'a port number 0-65535 (0: any free port)');
  let isDir = false;
  try {
    isDir = statSync(opts.runDir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new RingtrainError('NOT_A_RUN', `${opts.runDir} is not a directory`, { hint: 'pass the --run-dir of a `ringtrain train` run', details: { runDir: opts.runDir } });
  if (opts.secret !== null && opts.secret.length === 0) throw new RingtrainError('BAD_SECRET', 'the dashboard was given an empty job secret', { hint: 'pass the job secret, or null for a read-only dashboard' });
  const logger = opts.logger ?? createLogger({ name: 'dashboard' });
  const readOnly = opts.secret === null;
  const checkSecret = opts.secret === null ? null : secretCheck(opts.secret);
  const assets = loadPageAssets();
  if (assets.dir === null) logger.warn('the dashboard page is not built (dist/dashboard is missing): run `npm run build`; the API is served without it');
  const state = new RunState(opts.runDir, { readOnly, maxPoints: opts.maxPoints });
  await state.poll();
  const hub = new LiveHub(logger, () => ({ type: 'snapshot', state: state.snapshot() }), { maxBufferedBytes: opts.maxBufferedBytes });
  const prom = new RunMetrics();

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.warn(`dashboard: ${req.method} ${req.url} failed: ${(e as Error)?.message ?? e}`);
      if (!res.headersSent) json(res, 500, { ok: false, message: `internal error: ${(e as Error)?.message ?? e}` });
      else res.destroy();
    });
  });
  const loopback = isLoopback(host);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = requestRefusal(req, loopback);
    if (refusal !== null) {
      req.resume();
      return json(res, 403, { ok: false, message: refusal });
    }
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const action = /^\/api\/actions\/([a-z]+)$/.exec(path)?.[1];
    if (action !== undefined) {
      req.resume(); // the body says nothing
      if (!(ACTIONS as readonly string[]).includes(action)) return json(res, 404, { ok: false, message: `no action "${action}": there are ${ACTIONS.join(', ')}` });
      if (req.method !== 'POST') return json(res, 405, { ok: false, message: `use POST for ${path}` }, { Allow: 'POST' });
      return act(action as ActionName, req, res);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { ok: false, message: `use GET for ${path}` }, { Allow: 'GET, HEAD' });
    if (path === '/' || path === '/index.html') return page(res, 'index.html');
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'Cache-Control': 'max-age=86400' });
      res.end();
      return;
    }
    if (path.startsWith('/assets/')) return page(res, path.slice('/assets/'.length));
    if (path === '/api/state') return json(res, 200, state.snapshot());
    if (path === '/api/trace') return trace(url, res);
    if (path === '/metrics') {
      prom.update(runSnapshotOf(state));
      const text = await prom.text();
      res.writeHead(200, { 'Content-Type': prom.contentType, 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    if (path === '/trace.json') return chromeTrace(res);
    return json(res, 404, { ok: false, message: `nothing at ${path}` });
  }

  function page(res: ServerResponse, name: string): void {
    const file = assets.files.get(name);
    if (file === undefined) {
      const message = assets.dir === null ? 'the dashboard page is not built: run `npm run build`' : `no asset ${name}`;
      return json(res, 404, { ok: false, message });
    }
    res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, ...PAGE_HEADERS });
    res.end(file.body);
  }

  async function trace(url: URL, res: ServerResponse): Promise<void> {
    const raw = url.searchParams.get('step');
    const latest = state.latestTrace;
    const step = raw === null ? latest?.step : Number(raw);
    if (step === undefined) return json(res, 404, { ok: false, message: `no traced step yet (${RUN_FILES.trace} is empty or missing)` });
    if (!Number.isSafeInteger(step) || step < 0) return json(res, 400, { ok: false, message: `step ${JSON.stringify(raw)} is not a step number` });
    const line = await state.traceLine(step);
    if (line === null) {
      const steps = state.snapshot().trace.steps;
      return json(res, 404, { ok: false, message: `step ${step} was not traced; traced steps: ${steps.length === 0 ? 'none' : summarize(steps)}` });
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': line.length, 'Cache-Control': 'no-store' });
    res.end(line);
  }

  function chromeTrace(res: ServerResponse): void {
    const file = join(opts.runDir, RUN_FILES.chromeTrace);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return json(res, 404, { ok: false, message: `the run has no ${RUN_FILES.chromeTrace}` });
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': size, 'Content-Disposition': 'attachment; filename="trace.json"', 'Cache-Control': 'no-store' });
    createReadStream(file, { end: Math.max(0, size - 1) }).on('error', () => res.destroy()).pipe(res);
  }

  function act(name: ActionName, req: IncomingMessage, res: ServerResponse): void {
    const answer = (code: number, a: ActionAnswer) => json(res, code, a);
    if (checkSecret === null) return answer(403, { ok: false, message: READ_ONLY_MESSAGE });
    if (!checkSecret(req.headers[SECRET_HEADER])) {
      logger.warn(`dashboard: ${name} refused to ${req.socket.remoteAddress}: wrong or missing job secret`);
      return answer(401, { ok: false, message: `wrong or missing job secret: send it in the ${SECRET_HEADER} header (it is in ${join(opts.runDir, '.secret')})` });
    }
    if (opts.actions === undefined) return answer(503, { ok: false, message: 'this dashboard has no actions wired to a run' });
    try {
      opts.actions[name]();
    } catch (e) {
      return answer(409, { ok: false, message: (e as Error)?.message ?? String(e) });
    }
    logger.info(`dashboard: ${ACTION_DONE[name]} (from ${req.socket.remoteAddress})`);
    return answer(202, { ok: true, message: ACTION_DONE[name] });
  }

  server.on('upgrade', (req, socket, head) => {
    const refusal = requestRefusal(req, loopback);
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (refusal !== null || path !== '/live') {
      const status = refusal !== null ? '403 Forbidden' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${refusal ?? 'the WebSocket is at /live'}\n`);
      return;
    }
    hub.upgrade(req, socket, head);
  });

  await listen(server, port, host).catch((e: NodeJS.ErrnoException) => {
    hub.close();
    throw listenError(e, host, port);
  });
  server.on('error', (e) => logger.error(`dashboard server: ${e.message}`));
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(host)}:${bound}/`;

  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const tick = () => {
    inFlight = state
      .poll()
      .then((messages) => hub.broadcast(messages))
      .catch((e: unknown) => {
        logger.warn(`dashboard: reading ${opts.runDir} failed: ${(e as Error)?.message ?? e}`);
      })
      .finally(() => {
        if (!closed) timer = setTimeout(tick, opts.pollIntervalMs ?? 500);
      });
  };
  timer = setTimeout(tick, opts.pollIntervalMs ?? 500);

  return {
    url,
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== null) clearTimeout(timer);
      await inFlight;
      hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Why a request is refused before routing, or null. Bound to loopback, the Host must be a
 * loopback name (a page elsewhere that rebinds its DNS name to 127.0.0.1 must not read the run);
 * a browser request from another origin (Origin header) is refused everywhere.
 */
function requestRefusal(req: IncomingMessage, loopback: boolean): string | null {
  const hostHeader = req.headers.host ?? '';
  if (loopback && !isLoopbackName(hostName(hostHeader))) return `host ${JSON.stringify(hostHeader)} refused: this dashboard answers to localhost only`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return `origin ${JSON.stringify(origin)} refused`;
    }
    if (originHost !== hostHeader) return `origin ${origin} refused: only the dashboard's own page may call it`;
  }
  return null;
}

function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  const colon = hostHeader.lastIndexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function isLoopback(host: string): boolean {
  return isLoopbackName(host.toLowerCase());
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return hostname();
  return host.includes(':') ? `[${host}]` : host;
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): RingtrainError {
  if (e.code === 'EADDRINUSE') {
    return new RingtrainError('DASHBOARD_PORT_IN_USE', `the dashboard cannot listen on ${host}:${port}: port ${port} is in use by another process`, {
      hint: `pass another port (--port ${port + 1}), or --port 0 for any free one`,
      details: { host, port },
      cause: e,
    });
  }
  return new RingtrainError('DASHBOARD_LISTEN_FAILED', `the dashboard cannot listen on ${host}:${port}: ${e.message}`, {
    hint: e.code === 'EACCES' ? 'ports below 1024 need privileges: pass a port above 1024, or 0 for any free one' : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? `${host} is not an address of this machine: pass --host 127.0.0.1, or 0.0.0.0 for every interface` : undefined,
    details: { host, port, errno: e.code },
    cause: e,
  });
}

function json(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(text);
}

/** "1, 2, 3, …, 98, 99 (120 steps)" */
function summarize(steps: readonly number[]): string {
  if (steps.length <= 8) return steps.join(', ');
  return `${steps.slice(0, 3).join(', ')}, …, ${steps.slice(-3).join(', ')} (${steps.length} steps)`;
}

