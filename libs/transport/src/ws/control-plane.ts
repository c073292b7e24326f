import type { FramedConnection } from './framed-connection';
import { connectFramed, type ConnectOptions } from './framed-client';
import { listenFramed, type FramedServer, type FramedServerOptions } from './framed-server';

/*
 * The control plane is the same framed building block with fixed directions: the coordinator
 * receives worker -> coordinator frames and sends coordinator -> worker frames; a worker the
 * reverse. What the messages mean (register first, jobs, results) belongs to coordinator/ and
 * worker/. With `tls` the server serves wss:// (cert, key) and a worker dials it trusting the
 * job's CA (ca); a TlsMaterial from loadTls fits both.
 */

/** The coordinator's end of one worker's connection. */
export type WorkerConnection = FramedConnection<'worker-to-coordinator'>;
/** A worker's end of its connection to the coordinator. */
export type CoordinatorConnection = FramedConnection<'coordinator-to-worker'>;

export type ControlServer = FramedServer<'worker-to-coordinator'>;
export type ControlServerOptions = Omit<FramedServerOptions<'worker-to-coordinator'>, 'direction'>;
export type CoordinatorConnectOptions = Omit<ConnectOptions<'coordinator-to-worker'>, 'direction'>;

/** Starts the coordinator's authenticated control server; onConnection gets one WorkerConnection per worker. */
export function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  return listenFramed({ ...opts, direction: 'worker-to-coordinator' });
}

/** Connects a worker to the coordinator (retrying for `retryForMs` while it is not up yet). */
export function connectToCoordinator(opts: CoordinatorConnectOptions): Promise<CoordinatorConnection> {
  return connectFramed({ ...opts, direction: 'coordinator-to-worker' });
}
