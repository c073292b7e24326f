import { RingtrainError, StateMachine, isRingtrainError, type Logger } from '@ringtrain/core';
import {
  BulkReceiver,
  PROTOCOL_VERSION,
  bulkIndexOf,
  chunkBytesFor,
  decodeJobResult,
  encodeJobRequest,
  jobSpec,
  streamBulk,
  tensorsFromFrames,
  tensorsToFrames,
  wallClockMs,
  type JobKind,
  type JobRequest,
  type JobResult,
  type PeerAddress,
  type ResultMsg,
  type WorkerToCoordinatorMsg,
} from '@ringtrain/protocol';
import { WS_DEFAULTS, startControlServer, type ControlServer, type ServerTls, type WorkerConnection, type WsOptions } from '@ringtrain/transport';

/**
 * The coordinator's side of a run: rendezvous (workers register with their rank and data port;
 * once all P have, each gets the peer table), then jobs sent to every rank with results
 * collected. It never relays tensors between workers.
 */
export interface CoordinatorOptions {
  worldSize: number;
  secret: string;
  host?: string;
  port?: number;
  /** How long the world may take to form (all workers registered and meshed). */
  rendezvousTimeoutMs: number;
  /** How long one job may take on the slowest rank. */
  jobTimeoutMs: number;
  logger: Logger;
  /** Transport limits of the control plane (max frame bytes also sets the bulk chunk size). */
  wsOptions?: WsOptions;
  /**
   * The job this run belongs to (RINGTRAIN_JOB_ID, Slurm's job id). A worker that names another
   * job (one left over from an earlier job) is refused.
   */
  jobId?: string;
  /** Serve wss:// with this certificate and key (the workers trust its CA). */
  tls?: ServerTls;
}

/**
 * One rank's validated result of a job of kind K, with this process's wall clock (wallClockMs)
 * when the rank's request was sent and its result frame arrived (clock alignment of traces).
 */
export type RankResult<K extends JobKind> = JobResult<K> & { rank: number; sentAtMs: number; receivedAtMs: number };

type RunState = 'rendezvous' | 'ready' | 'closed' | 'failed';

interface Member {
  rank: number;
  conn: WorkerConnection;
  address: PeerAddress;
  pid: number;
  ready: boolean;
  /** What the worker reported with `ready`: its compute backend and device. */
  backend?: string;
  device?: string;
}

/** One rank as the coordinator knows it, for reports (bench, logs). */
export interface WorkerSummary {
  rank: number;
  host: string;
  pid: number;
  backend: string;
  device: string;
}

interface PendingJob {
  jobId: string;
  /** Whether results of this kind may carry a bulk stream (a result that announces one otherwise is refused at once). */
  resultBulk: boolean;
  /** Proves a rank's result is one of this job's kind. */
  decode: (rank: number, msg: ResultMsg, bulk: BulkReceiver | null) => unknown;
  results: unknown[];
  /** Ranks whose result frame came and whose bulk stream is still arriving. */
  streams: Map<number, { msg: ResultMsg; receiver: BulkReceiver }>;
  remaining: number;
  /** By rank: when its request was sent and its result frame arrived (wallClockMs). */
  sentAtMs: number[];
  receivedAtMs: number[];
  resolve: (r: unknown[]) => void;
  reject: (e: Error) => void;
}

export class Coordinator {
  private readonly state = new StateMachine<RunState>('run', 'rendezvous', {
    rendezvous: ['ready', 'failed', 'closed'],
    ready: ['failed', 'closed'],
    failed: ['closed'],
    closed: [],
  });
  private readonly members = new Map<number, Member>();
  private server!: ControlServer;
  private worldWaiter = deferred<void>();
  private job: PendingJob | null = null;
  private jobCount = 0;
  private failure: Error | null = null;
  /** Ids of recently failed jobs: their late results and chunks are dropped, not taken as protocol errors. */
  private readonly endedJobs = new Set<string>();

  private constructor(private readonly opts: CoordinatorOptions) {
    // Nobody may be waiting yet; keep an early failure from being reported as unhandled.
    this.worldWaiter.promise.catch(() => undefined);
  }

  static async start(opts: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(opts);
    c.server = await startControlServer({
      ...opts.wsOptions,
      secret: opts.secret,
      ...(opts.tls ? { tls: opts.tls } : {}),
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      logger: opts.logger,
      onConnection: (conn) => c.accept(conn),
    });
    opts.logger.info(`coordinator listening on ${c.server.url}, waiting for ${opts.worldSize} workers`);
    return c;
  }

  get worldSize(): number {
    return this.opts.worldSize;
  }

  get url(): string {
    return this.server.url;
  }

  /** Data-plane addresses of the registered workers, by rank. */
  get peers(): PeerAddress[] {
    return [...this.members.values()].map((m) => ({ ...m.address })).sort((a, b) => a.rank - b.rank);
  }

  /** Every registered rank with the backend and device it reported. */
  get workers(): WorkerSummary[] {
    return [...this.members.values()]
      .map((m) => ({ rank: m.rank, host: m.address.host, pid: m.pid, backend: m.backend ?? 'unknown', device: m.device ?? 'unknown' }))
      .sort((a, b) => a.rank - b.rank);
  }

  /** Resolves once every rank has registered and reported its mesh up. */
  async waitForWorld(): Promise<void> {
    const timer = setTimeout(() => {
      const missing = this.missingRanks();
      this.fail(new RingtrainError('RENDEZVOUS_TIMEOUT', `the world did not form within ${this.opts.rendezvousTimeoutMs} ms: ${missing.length ? `rank(s) ${missing.join(', ')} never ${this.members.size < this.opts.worldSize ? 'registered' : 'reported ready'}` : 'unknown reason'}`, {
        hint: 'check that every worker was started with the same coordinator address and job secret, and that they can reach each other',
        details: { missing },
      }));
    }, this.opts.rendezvousTimeoutMs);
    try {
      await this.worldWaiter.promise;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends a job of kind K to every rank (perRank[r] is rank r's request; a bulk stream follows
   * its job frame in chunks) and collects every rank's result, validated against K's schema.
   */
  async runJob<K extends JobKind>(kind: K, perRank: ReadonlyArray<JobRequest<K>>): Promise<Array<RankResult<K>>> {
    if (this.failure) throw this.failure;
    if (!this.state.is('ready')) throw new RingtrainError('BAD_STATE', `cannot run a job while the run is ${this.state.state}`);
    if (this.job) throw new RingtrainError('BAD_STATE', `job ${this.job.jobId} is still running`);
    if (perRank.length !== this.opts.worldSize) throw new RingtrainError('BAD_JOB', `job ${kind} has ${perRank.length} requests for a world of ${this.opts.worldSize}`);
    const payloads = perRank.map((r) => encodeJobRequest(kind, r));
    const jobId = `${kind}-${++this.jobCount}`;
    const done = deferred<unknown[]>();
    // The job may fail (a rank's `failed`, a lost worker, the timeout) while requests are still
    // streaming out: that rejection is the caller's, never an unhandled one.
    done.promise.catch(() => undefined);
    const decode = (rank: number, msg: ResultMsg, bulk: BulkReceiver | null): RankResult<K> => ({
      ...decodeJobResult(kind, { meta: msg.meta, tensors: tensorsFromFrames(msg.tensors), bulk: bulk?.take() }),
      rank,
      sentAtMs: job.sentAtMs[rank],
      receivedAtMs: job.receivedAtMs[rank],
    });
    const job: PendingJob = {
      jobId, resultBulk: jobSpec(kind).resultBulk, decode, results: new Array(this.opts.worldSize), streams: new Map(), remaining: this.opts.worldSize,
      sentAtMs: [], receivedAtMs: [], resolve: done.resolve, reject: done.reject,
    };
    this.job = job;
    const timer = setTimeout(() => {
      const waiting = [...job.results.keys()].filter((i) => job.results[i] === undefined);
      this.failJob(new RingtrainError('JOB_TIMEOUT', `job ${jobId} did not finish within ${this.opts.jobTimeoutMs} ms; still waiting for rank(s) ${waiting.join(', ')}`, {
        hint: 'raise --timeout-ms for large problems, or look at the worker log for a hang',
      }));
    }, this.opts.jobTimeoutMs);
    const chunkBytes = chunkBytesFor(this.opts.wsOptions?.maxFrameBytes ?? WS_DEFAULTS.maxFrameBytes);
    try {
      const sends = Promise.all([...this.members.values()].map(async (m) => {
        const p = payloads[m.rank];
        job.sentAtMs[m.rank] = wallClockMs();
        await m.conn.send({ t: 'job', jobId, kind, params: p.params, tensors: tensorsToFrames(p.tensors), bulk: p.bulk && bulkIndexOf(p.bulk) });
        if (!p.bulk) return;
        // A job that failed meanwhile stops streaming (its receivers are gone or will discard it).
        await streamBulk(p.bulk, chunkBytes, (piece) => (this.job === job ? m.conn.send({ t: 'job-chunk', jobId, ...piece }) : Promise.reject(new RingtrainError('JOB_ABANDONED', `job ${jobId} ended while its state was streaming`))));
      }));
      await Promise.race([sends, done.promise]);
      // Each entry was built by `decode` above, for kind K.
      return (await done.promise) as Array<RankResult<K>>;
    } finally {
      clearTimeout(timer);
      if (this.job === job) this.job = null;
    }
  }

  /** The same request to every rank. */
  runOnAll<K extends JobKind>(kind: K, request: JobRequest<K>): Promise<Array<RankResult<K>>> {
    return this.runJob(kind, Array.from({ length: this.opts.worldSize }, () => request));
  }

  /** Ends the run for an outside reason (e.g. a worker process exited). */
  fail(err: Error): void {
    if (this.failure || this.state.is('closed')) return;
    this.failure = err;
    this.state.to('failed');
    this.worldWaiter.reject(err);
    this.failJob(err);
  }

  /**
   * Tells every worker to stop and closes the control server. With `rejoin` the workers are told
   * the world is re-forming: those started by a scheduler register again.
   */
  async shutdown(reason: string, how: { rejoin?: boolean } = {}): Promise<void> {
    if (this.state.is('closed')) return;
    await Promise.all([...this.members.values()].map((m) =>
      m.conn.send({ t: 'shutdown', reason, ...(how.rejoin ? { rejoin: true } : {}) }).catch(() => undefined),
    ));
    this.state.to('closed');
    await this.server.close();
  }

  private accept(conn: WorkerConnection): void {
    let member: Member | null = null;
    conn.onMessage((msg) => {
      if (!member) {
        member = this.register(conn, msg);
        return;
      }
      this.onMemberMessage(member, msg);
    });
    void conn.closed.then((info) => {
      if (!member || this.state.is('closed', 'failed')) return;
      this.fail(new RingtrainError('WORKER_LOST', `worker ${member.rank} (pid ${member.pid}) disconnected: ${info.error?.message ?? info.reason ?? 'closed'}`, {
        hint: 'the worker process died or lost its network; its log says why',
        details: { rank: member.rank, code: info.code },
      }));
    });
  }

  private register(conn: WorkerConnection, msg: WorkerToCoordinatorMsg): Member | null {
    const refuse = (code: string, message: string, hint?: string) => {
      this.opts.logger.warn(`refused a worker: ${message}`);
      void conn.fail(new RingtrainError(code, message, { hint }));
      return null;
    };
    if (msg.t !== 'register') return refuse('PROTOCOL', `expected register as the first frame, got ${msg.t}`);
    if (msg.v !== PROTOCOL_VERSION) return refuse('PROTOCOL_VERSION', `worker speaks protocol ${msg.v}, coordinator ${PROTOCOL_VERSION}`, 'run the same ringtrain version everywhere');
    if (msg.worldSize !== undefined && msg.worldSize !== this.opts.worldSize) {
      return refuse('WORLD_SIZE_MISMATCH', `a worker${msg.rank === null ? '' : ` of rank ${msg.rank}`} (pid ${msg.pid} on ${msg.host}) was started for a world of ${msg.worldSize}, this coordinator's world has ${this.opts.worldSize}`,
        `start every worker with WORLD_SIZE=${this.opts.worldSize} (the coordinator's --workers), or the coordinator with --workers ${msg.worldSize}`);
    }
    if (msg.job !== undefined && this.opts.jobId !== undefined && msg.job !== this.opts.jobId) {
      return refuse('STALE_JOB', `a worker${msg.rank === null ? '' : ` of rank ${msg.rank}`} (pid ${msg.pid} on ${msg.host}) belongs to job ${msg.job}, this coordinator runs job ${this.opts.jobId}`,
        `a worker of an earlier job is still running: stop it (scancel ${msg.job}, kubectl delete job …, or kill ${msg.pid} on ${msg.host}); workers of this job get RINGTRAIN_JOB_ID=${this.opts.jobId}`);
    }
    if (!this.state.is('rendezvous')) return refuse('WORLD_FULL', `rank ${msg.rank} registered after the world formed`);
    const rank = msg.rank ?? this.firstFreeRank();
    if (rank < 0 || rank >= this.opts.worldSize) return refuse('BAD_RANK', `rank ${rank} is outside a world of ${this.opts.worldSize}`, 'RANK must be below WORLD_SIZE');
    if (this.members.has(rank)) return refuse('DUPLICATE_RANK', `rank ${rank} registered twice`, 'give every worker its own RANK');
    const member: Member = { rank, conn, address: { rank, host: msg.host, port: msg.dataPort }, pid: msg.pid, ready: false };
    this.members.set(rank, member);
    this.opts.logger.info(`worker ${rank} registered (pid ${msg.pid}, data ${msg.host}:${msg.dataPort}); ${this.members.size}/${this.opts.worldSize}`);
    if (this.members.size === this.opts.worldSize) this.sendWorld();
    return member;
  }

  private sendWorld(): void {
    const peers = [...this.members.values()].map((m) => m.address).sort((a, b) => a.rank - b.rank);
    for (const m of this.members.values()) {
      void m.conn.send({ t: 'world', rank: m.rank, worldSize: this.opts.worldSize, peers }).catch((e: Error) => this.fail(e));
    }
  }

  private onMemberMessage(member: Member, msg: WorkerToCoordinatorMsg): void {
    switch (msg.t) {
      case 'ready':
        member.ready = true;
        member.backend = msg.backend;
        member.device = msg.device;
        this.opts.logger.info(`rank ${member.rank} ready on ${msg.backend ?? 'an unnamed backend'}${msg.device ? ` (${msg.device})` : ''}`);
        if ([...this.members.values()].every((m) => m.ready) && this.members.size === this.opts.worldSize) {
          this.state.to('ready');
          this.opts.logger.info(`world of ${this.opts.worldSize} formed`);
          this.worldWaiter.resolve();
        }
        return;
      case 'result': {
        const job = this.job;
        if (this.endedJobs.has(msg.jobId)) return; // a late answer to a job that already failed
        if (!job || job.jobId !== msg.jobId || job.results[member.rank] !== undefined || job.streams.has(member.rank)) {
          this.opts.logger.warn(`ignored an unexpected result for job ${msg.jobId} from rank ${member.rank}`);
          return;
        }
        job.receivedAtMs[member.rank] = wallClockMs();
        if (msg.bulk && !job.resultBulk) {
          this.refuseMember(member, new RingtrainError('BAD_RESULT', `rank ${member.rank} announced a bulk stream for ${msg.jobId}, whose results carry none`));
          return;
        }
        if (msg.bulk) job.streams.set(member.rank, { msg, receiver: new BulkReceiver(msg.bulk, `result of ${msg.jobId} from rank ${member.rank}`) });
        else this.settle(job, member, msg, null);
        return;
      }
      case 'result-chunk': {
        const job = this.job;
        if (this.endedJobs.has(msg.jobId)) return; // the rest of a stream of a job that already failed
        const stream = job?.jobId === msg.jobId ? job.streams.get(member.rank) : undefined;
        if (!job || !stream) {
          this.refuseMember(member, new RingtrainError('BAD_STREAM', `rank ${member.rank} sent chunk ${msg.seq} of ${msg.jobId}, which has no open stream`));
          return;
        }
        try {
          if (!stream.receiver.accept(msg)) return;
        } catch (err) {
          this.refuseMember(member, err as RingtrainError);
          return;
        }
        job.streams.delete(member.rank);
        this.settle(job, member, stream.msg, stream.receiver);
        return;
      }
      case 'failed':
        if (msg.jobId !== null && msg.jobId !== this.job?.jobId) {
          this.opts.logger.warn(`rank ${member.rank}: late failure of ${msg.jobId} ignored: [${msg.code}] ${msg.message}`);
          return;
        }
        this.failJob(new RingtrainError(msg.code, `worker ${member.rank}: ${msg.message}`, { details: { rank: member.rank, jobId: msg.jobId } }));
        return;
      case 'register':
        void member.conn.fail(new RingtrainError('PROTOCOL', `rank ${member.rank} registered twice on one connection`));
        return;
    }
  }

  /** Records one rank's complete result; a result that fails its kind's schema fails the job and closes that connection. */
  private settle(job: PendingJob, member: Member, msg: ResultMsg, bulk: BulkReceiver | null): void {
    try {
      job.results[member.rank] = job.decode(member.rank, msg, bulk);
    } catch (err) {
      this.refuseMember(member, err as RingtrainError);
      return;
    }
    if (--job.remaining === 0) job.resolve(job.results);
  }

  /** A worker broke the protocol: close its connection with the coded error and fail the job (nothing of it is applied). */
  private refuseMember(member: Member, err: Error): void {
    const e = isRingtrainError(err) ? err : new RingtrainError('BAD_RESULT', String((err as Error)?.message ?? err));
    this.opts.logger.error(`rank ${member.rank}: ${e.code}: ${e.message}`);
    this.failJob(new RingtrainError(e.code, `worker ${member.rank}: ${e.message}`, { hint: e.hint, details: { rank: member.rank } }));
    void member.conn.fail(e);
  }

  private failJob(err: Error): void {
    const job = this.job;
    if (!job) return;
    this.job = null;
    this.endedJobs.add(job.jobId);
    if (this.endedJobs.size > 64) this.endedJobs.delete(this.endedJobs.values().next().value!);
    job.reject(err);
  }

  private firstFreeRank(): number {
    for (let r = 0; r < this.opts.worldSize; r++) if (!this.members.has(r)) return r;
    return this.opts.worldSize;
  }

  private missingRanks(): number[] {
    const missing: number[] = [];
    for (let r = 0; r < this.opts.worldSize; r++) {
      const m = this.members.get(r);
      if (!m || !m.ready) missing.push(r);
    }
    return missing;
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
