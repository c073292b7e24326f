import { RingtrainError, StateMachine, isRingtrainError, optionError, type Logger } from '@ringtrain/core';
import { PROTOCOL_VERSION, tensorsFromFrames, type DataMsg, type HelloMsg, type PeerAddress } from '@ringtrain/protocol';
import { Mailbox } from '../mailbox';
import type { PeerMessage } from '../transport';
import { connectFramed } from './framed-client';
import type { ConnectionClosed, Delivery, FramedConnection } from './framed-connection';
import { listenFramed, type FramedServer } from './framed-server';
import { defaultTransportLogger } from './logger';
import { compileWsOptions, type WsConfig, type WsOptions } from './options';
import { checkClientTls, checkServerTls, type ClientTls, type ServerTls, type TlsMaterial } from './tls';
import { wsUrl } from './url';
import { WsTransport, type MeshState } from './ws-transport';

export interface PeerServerOptions extends WsOptions {
  rank: number;
  worldSize: number;
  /** The job secret; every link presents it at the upgrade. */
  secret: string;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one, reported as `port`. */
  port?: number;
  logger?: Logger;
  /**
   * Run the mesh over TLS: this rank serves `wss://` with cert and key and dials the others'
   * `wss://` trusting only `ca` (default: cert, i.e. one self-signed certificate for the job).
   * Every rank of a job must be given the same setting. Default: none.
   */
  tls?: ServerTls & Partial<ClientTls>;
}

export interface MeshOptions {
  /** How long to wait for all P-1 links. Default 30000. */
  timeoutMs?: number;
}

const OWN_KEYS = ['rank', 'worldSize', 'secret', 'host', 'port', 'logger', 'tls'];
const DEFAULT_MESH_TIMEOUT_MS = 30000;

type ServerState = 'listening' | 'meshing' | 'meshed' | 'closed';

/**
 * Starts rank `rank`'s data-plane server. Peers may dial it (and send data) as soon as this
 * resolves; call connectMesh with the peer addresses to finish the mesh.
 */
export async function startPeerServer(opts: PeerServerOptions): Promise<PeerServer> {
  const config = compileWsOptions(opts, OWN_KEYS);
  const { rank, worldSize } = opts;
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw optionError('worldSize', worldSize, 'an integer >= 1');
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) throw optionError('rank', rank, `an integer from 0 to ${worldSize - 1}`);
  const tls = opts.tls === undefined ? null : meshTls(opts.tls);
  const peerServer = new PeerServer(rank, worldSize, opts.secret, config, opts.logger ?? defaultTransportLogger(), tls);
  await peerServer.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return peerServer;
}

/**
 * One rank's end of the full mesh. Rank i dials every rank j < i and sends `hello`; rank j
 * checks it (protocol version, rank range, world size, no duplicate), answers with its own
 * hello, and closes the link with a coded error otherwise. Each link's data frames go to a
 * per-peer Mailbox; a link that dies fails its mailbox, so waiting receives reject at once.
 */
export class PeerServer {
  private readonly lifecycle = new StateMachine<ServerState>('peer server', 'listening', {
    listening: ['meshing', 'closed'],
    meshing: ['meshed', 'closed'],
    meshed: ['closed'],
    closed: [],
  });
  private server: FramedServer<'peer'> | null = null;
  private readonly links = new Map<number, FramedConnection<'peer'>>();
  private readonly dialed = new Set<FramedConnection<'peer'>>();
  private readonly mailboxes: Mailbox[];
  private readonly received = { messages: 0, bytes: 0 };
  private readonly dialAbort = new AbortController();
  private linkWaiters: Array<() => void> = [];
  private abortMesh: ((e: RingtrainError) => void) | null = null;
  private closing: Promise<void> | null = null;

  /** Use startPeerServer. */
  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly secret: string,
    private readonly config: WsConfig,
    private readonly logger: Logger,
    private readonly tls: TlsMaterial | null = null,
  ) {
    this.mailboxes = Array.from({ length: worldSize }, () => new Mailbox(config.maxQueuedMessages));
  }

  get host(): string {
    return this.requireServer().host;
  }

  get port(): number {
    return this.requireServer().port;
  }

  get url(): string {
    return this.requireServer().url;
  }

  get state(): ServerState {
    return this.lifecycle.state;
  }

  /** @internal called once by startPeerServer. */
  async listen(host: string, port: number): Promise<void> {
    this.server = await listenFramed({
      ...this.config,
      direction: 'peer',
      secret: this.secret,
      host,
      port,
      logger: this.logger,
      ...(this.tls ? { tls: this.tls } : {}),
      onConnection: (conn) => void this.handshake(conn, 'acceptor', null).catch(() => undefined),
    });
  }

  /**
   * Dials every lower rank and waits until every higher rank has dialed in. `peers` must hold
   * the addresses of all ranks below this one (other entries are ignored). Resolves with the
   * transport once all P-1 links are up. Rejects with MESH_TIMEOUT (naming the missing ranks)
   * after `timeoutMs`, or at once with the error of a link that was refused (AUTH_REJECTED,
   * BAD_HELLO, ...); on rejection the server is closed.
   */
  async connectMesh(peers: readonly PeerAddress[], opts: MeshOptions = {}): Promise<WsTransport> {
    this.lifecycle.to('meshing');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_MESH_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw optionError('timeoutMs', timeoutMs, 'a positive number of milliseconds');
      const lower = this.lowerPeers(peers);
      const deadline = Date.now() + timeoutMs;
      const dialErrors = new Map<number, RingtrainError>();
      const failed = new Promise<never>((_, reject) => {
        this.abortMesh = reject;
        timer = setTimeout(() => reject(this.meshTimeout(timeoutMs, dialErrors)), timeoutMs);
      });
      for (const peer of lower) {
        this.dial(peer, deadline).catch((caught: unknown) => {
          const e = isRingtrainError(caught)
            ? caught
            : new RingtrainError('LINK_FAILED', `linking with rank ${peer.rank} failed: ${(caught as Error)?.message ?? caught}`, { cause: caught });
          dialErrors.set(peer.rank, e);
          const retriedOut = e.code === 'CONNECT_FAILED' || e.code === 'CONNECT_TIMEOUT' || e.code === 'CONNECT_ABORTED';
          if (!retriedOut) this.abortMesh?.(linkRefused(this.rank, peer.rank, e));
        });
      }
      await Promise.race([this.allLinked(), failed]);
    } catch (e) {
      await this.close();
      throw e;
    } finally {
      clearTimeout(timer);
      this.abortMesh = null;
    }
    this.lifecycle.to('meshed');
    return new WsTransport(this.meshState());
  }

  /** Closes every link and the listener; receives still waiting reject with TRANSPORT_CLOSED. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const error = new RingtrainError('TRANSPORT_CLOSED', `rank ${this.rank} closed its transport`, { details: { rank: this.rank } });
      if (!this.lifecycle.is('closed')) this.lifecycle.to('closed');
      this.abortMesh?.(error);
      this.dialAbort.abort();
      for (const box of this.mailboxes) box.fail(error);
      await Promise.all([this.server?.close(), ...[...this.dialed].map((c) => c.close(1000, `rank ${this.rank} closing`))]);
    })();
    return this.closing;
  }

  // ---- links ----

  private async dial(peer: PeerAddress, deadline: number): Promise<void> {
    const conn = await connectFramed({
      ...this.config,
      url: wsUrl(peer.host, peer.port, this.tls ? 'wss' : 'ws'),
      secret: this.secret,
      ...(this.tls ? { tls: { ca: this.tls.ca } } : {}),
      direction: 'peer',
      retryForMs: Math.max(0, deadline - Date.now()),
      signal: this.dialAbort.signal,
      label: `rank ${peer.rank}`,
      logger: this.logger,
    });
    this.dialed.add(conn);
    if (this.lifecycle.is('closed')) void conn.close(1000, `rank ${this.rank} closing`);
    const linked = this.handshake(conn, 'dialer', peer.rank);
    conn.send(this.hello()).catch(() => undefined); // a failed send shows up as the link closing
    await linked;
  }

  /**
   * Runs one link: the first frame must be a valid hello, every later frame a data frame.
   * Resolves with the peer's rank once linked; rejects if the link closes before that. Problems
   * are thrown from the message handler, which closes the link with the error's code.
   */
  private handshake(conn: FramedConnection<'peer'>, role: 'acceptor' | 'dialer', expectRank: number | null): Promise<number> {
    return new Promise((resolve, reject) => {
      let peer: number | null = null;
      const helloTimer = setTimeout(() => {
        void conn.fail(
          new RingtrainError('HELLO_TIMEOUT', `${conn.label} sent no hello within ${this.config.helloTimeoutMs} ms`, {
            details: { peer: conn.label, helloTimeoutMs: this.config.helloTimeoutMs },
          }),
        );
      }, this.config.helloTimeoutMs);
      helloTimer.unref();

      void conn.closed.then((info) => {
        clearTimeout(helloTimer);
        if (peer === null) reject(info.error ?? new RingtrainError('TRANSPORT_CLOSED', `link to ${conn.label} closed before hello`));
        else this.linkDown(peer, info);
      });

      conn.onMessage((msg, delivery) => {
        if (peer !== null) {
          if (msg.t !== 'data') throw new RingtrainError('UNEXPECTED_FRAME', `rank ${peer} sent a second hello`, { details: { peer } });
          this.deliver(peer, msg, delivery);
          return;
        }
        if (msg.t !== 'hello') throw new RingtrainError('BAD_HELLO', `${conn.label} sent ${msg.t} before hello`, { details: { peer: conn.label } });
        this.checkHello(msg, role, expectRank);
        clearTimeout(helloTimer);
        peer = msg.rank;
        conn.label = `rank ${peer}`;
        this.links.set(peer, conn);
        if (role === 'acceptor') conn.send(this.hello()).catch(() => undefined);
        this.logger.debug(`rank ${this.rank} linked with rank ${peer} (${role})`);
        resolve(peer);
        this.wakeLinkWaiters();
      });
    });
  }

  /** Throws BAD_HELLO or DUPLICATE_PEER (closing the link) unless the hello fits this world. */
  private checkHello(msg: HelloMsg, role: 'acceptor' | 'dialer', expectRank: number | null): void {
    const details = { rank: this.rank, worldSize: this.worldSize, peerRank: msg.rank, peerWorldSize: msg.worldSize };
    if (msg.worldSize !== this.worldSize) {
      throw new RingtrainError('BAD_HELLO', `rank ${msg.rank} has world size ${msg.worldSize}, rank ${this.rank} has ${this.worldSize}`, {
        hint: 'every rank of a job must be started with the same world size',
        details,
      });
    }
    if (role === 'acceptor' && msg.rank <= this.rank) {
      throw new RingtrainError('BAD_HELLO', `rank ${msg.rank} dialed rank ${this.rank}; only higher ranks dial lower ones`, { details });
    }
    if (role === 'dialer' && msg.rank !== expectRank) {
      throw new RingtrainError('BAD_HELLO', `dialed rank ${expectRank} but rank ${msg.rank} answered`, {
        hint: 'the peer address list does not match the running ranks',
        details,
      });
    }
    if (this.links.has(msg.rank)) {
      throw new RingtrainError('DUPLICATE_PEER', `rank ${msg.rank} is already linked with rank ${this.rank}`, {
        hint: 'two processes claim the same rank',
        details,
      });
    }
  }

  /** Queues a data frame in its peer's mailbox, where its bytes count against the link's maxQueuedBytes until taken. */
  private deliver(peer: number, msg: DataMsg, delivery: Delivery): void {
    const message: PeerMessage = { tag: msg.tag, tensors: tensorsFromFrames(msg.tensors) };
    if (msg.meta) message.meta = msg.meta;
    if (delivery.recycle) message.recycle = delivery.recycle;
    this.mailboxes[peer].deliver(message, delivery.hold()); // MAILBOX_FULL is thrown and closes the link
    this.received.messages++;
    for (const t of msg.tensors) this.received.bytes += t.bytes.byteLength;
  }

  private linkDown(peer: number, info: ConnectionClosed): void {
    const error = this.linkError(peer)!;
    if (!this.closing) this.logger.warn(error.message, { code: error.code, peer, closeCode: info.code });
    this.mailboxes[peer].fail(error);
  }

  /** Why the link to `peer` is down (PEER_DEAD, PEER_CLOSED or TRANSPORT_CLOSED); null while it is up. */
  private linkError(peer: number): RingtrainError | null {
    const info = this.links.get(peer)?.closeInfo;
    if (!info) return null;
    if (this.closing && info.by === 'local') {
      return new RingtrainError('TRANSPORT_CLOSED', `rank ${this.rank} closed its transport`, { details: { rank: this.rank, peer } });
    }
    const cause = info.error;
    const code = cause?.code === 'PEER_DEAD' ? 'PEER_DEAD' : 'PEER_CLOSED';
    return new RingtrainError(code, `link from rank ${this.rank} to rank ${peer} is down: ${cause ? `${cause.code}: ${cause.message}` : `closed (${info.code})`}`, {
      hint: cause?.hint,
      details: { rank: this.rank, peer, closeCode: info.code, reason: info.reason, by: info.by, causeCode: cause?.code },
      cause,
    });
  }

  private allLinked(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.links.size === this.worldSize - 1) resolve();
        else this.linkWaiters.push(check);
      };
      check();
    });
  }

  private wakeLinkWaiters(): void {
    const waiters = this.linkWaiters;
    this.linkWaiters = [];
    for (const w of waiters) w();
  }

  // ---- helpers ----

  private hello(): HelloMsg {
    return { t: 'hello', v: PROTOCOL_VERSION, rank: this.rank, worldSize: this.worldSize };
  }

  private lowerPeers(peers: readonly PeerAddress[]): PeerAddress[] {
    if (!Array.isArray(peers)) throw optionError('peers', peers, 'an array of {rank, host, port}');
    const byRank = new Map<number, PeerAddress>();
    for (const p of peers) {
      if (!Number.isSafeInteger(p?.rank) || p.rank < 0 || p.rank >= this.worldSize) throw optionError('peers[].rank', p?.rank, `an integer from 0 to ${this.worldSize - 1}`);
      if (typeof p.host !== 'string' || p.host.length === 0) throw optionError(`peers[rank ${p.rank}].host`, p.host, 'a host name or address');
      if (!Number.isSafeInteger(p.port) || p.port < 1 || p.port > 65535) throw optionError(`peers[rank ${p.rank}].port`, p.port, 'a port from 1 to 65535');
      if (byRank.has(p.rank)) throw optionError('peers', p.rank, 'each rank listed once');
      byRank.set(p.rank, p);
    }
    const missing = Array.from({ length: this.rank }, (_, r) => r).filter((r) => !byRank.has(r));
    if (missing.length > 0) {
      throw new RingtrainError('BAD_OPTION', `rank ${this.rank} needs the addresses of ranks ${missing.join(', ')} to dial them`, {
        hint: 'pass the addresses of all ranks (the world message lists them)',
        details: { option: 'peers', missing },
      });
    }
    return Array.from({ length: this.rank }, (_, r) => byRank.get(r)!);
  }

  private meshTimeout(timeoutMs: number, dialErrors: ReadonlyMap<number, RingtrainError>): RingtrainError {
    const missing = Array.from({ length: this.worldSize }, (_, r) => r).filter((r) => r !== this.rank && !this.links.has(r));
    const errors = Object.fromEntries([...dialErrors].map(([r, e]) => [r, `${e.code}: ${e.message}`]));
    return new RingtrainError('MESH_TIMEOUT', `rank ${this.rank} has no link to rank${missing.length === 1 ? '' : 's'} ${missing.join(', ')} after ${timeoutMs} ms`, {
      hint: 'check that those ranks were started with the same world size and secret, and that their hosts and ports are reachable',
      details: { rank: this.rank, missing, timeoutMs, errors },
    });
  }

  private meshState(): MeshState {
    return {
      rank: this.rank,
      worldSize: this.worldSize,
      links: this.links,
      mailboxes: this.mailboxes,
      received: this.received,
      linkError: (peer) => this.linkError(peer),
      close: () => this.close(),
    };
  }

  private requireServer(): FramedServer<'peer'> {
    if (!this.server) throw new RingtrainError('BAD_STATE', 'peer server is not listening yet');
    return this.server;
  }
}

/** Checks the mesh's TLS material once; the CA defaults to the (self-signed) certificate. */
function meshTls(given: PeerServerOptions['tls']): TlsMaterial {
  const { cert, key } = checkServerTls(given);
  const { ca } = checkClientTls({ ca: given?.ca ?? cert });
  return { cert, key, ca };
}

function linkRefused(rank: number, peer: number, e: RingtrainError): RingtrainError {
  return new RingtrainError(e.code, `rank ${rank} could not link with rank ${peer}: ${e.message}`, {
    hint: e.hint,
    details: { ...e.details, rank, peer },
    cause: e,
  });
}
