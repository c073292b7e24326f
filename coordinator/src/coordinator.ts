import { RingtrainError, StateMachine, type Logger } from '@ringtrain/core';
import { PROTOCOL_VERSION, tensorsFromFrames, tensorsToFrames, type JsonObject, type PeerAddress, type WorkerToCoordinatorMsg } from '@ringtrain/protocol';
import { startControlServer, type ControlServer, type WireTensor, type WorkerConnection } from '@ringtrain/transport';

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
}

export interface JobResult {
  rank: number;
  tensors: Record<string, WireTensor>;
  meta: Record<string, number | string | boolean>;
}

type RunState = 'rendezvous' | 'ready' | 'closed' | 'failed';

interface Member {
  rank: number;
  conn: WorkerConnection;
  address: PeerAddress;
  pid: number;
  ready: boolean;
}

interface PendingJob {
  jobId: string;
  results: Array<JobResult | undefined>;
  remaining: number;
  resolve: (r: JobResult[]) => void;
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

  private constructor(private readonly opts: CoordinatorOptions) {
    // Nobody may be waiting yet; keep an early failure from being reported as unhandled.
    this.worldWaiter.promise.catch(() => undefined);
  }

  static async start(opts: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(opts);
    c.server = await startControlServer({
      secret: opts.secret,
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      logger: opts.logger,
      onConnection: (conn) => c.accept(conn),
    });
    opts.logger.info(`coordinator listening on ${c.server.url}, waiting for ${opts.worldSize} workers`);
    return c;
  }

  get url(): string {
    return this.server.url;
  }

  /** Data-plane addresses of the registered workers, by rank. */
  get peers(): PeerAddress[] {
    return [...this.members.values()].map((m) => ({ ...m.address })).sort((a, b) => a.rank - b.rank);
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

  /** Sends one job to every rank (perRank[r] are rank r's tensors) and collects every result. */
  async runJob(kind: string, params: JsonObject, perRank: ReadonlyArray<Record<string, WireTensor>>): Promise<JobResult[]> {
    if (this.failure) throw this.failure;
    if (!this.state.is('ready')) throw new RingtrainError('BAD_STATE', `cannot run a job while the run is ${this.state.state}`);
    if (this.job) throw new RingtrainError('BAD_STATE', `job ${this.job.jobId} is still running`);
    const jobId = `${kind}-${++this.jobCount}`;
    const done = deferred<JobResult[]>();
    const job: PendingJob = { jobId, results: new Array(this.opts.worldSize), remaining: this.opts.worldSize, resolve: done.resolve, reject: done.reject };
    this.job = job;
    const timer = setTimeout(() => {
      const waiting = job.results.map((r, i) => (r ? -1 : i)).filter((i) => i >= 0);
      this.failJob(new RingtrainError('JOB_TIMEOUT', `job ${jobId} did not finish within ${this.opts.jobTimeoutMs} ms; still waiting for rank(s) ${waiting.join(', ')}`, {
        hint: 'raise --timeout-ms for large problems, or look at the worker log for a hang',
      }));
    }, this.opts.jobTimeoutMs);
    try {
      await Promise.all([...this.members.values()].map((m) =>
        m.conn.send({ t: 'job', jobId, kind, params, tensors: tensorsToFrames(perRank[m.rank]) }),
      ));
      return await done.promise;
    } finally {
      clearTimeout(timer);
      this.job = null;
    }
  }

  /** Ends the run for an outside reason (e.g. a worker process exited). */
  fail(err: Error): void {
    if (this.failure || this.state.is('closed')) return;
    this.failure = err;
    this.state.to('failed');
    this.worldWaiter.reject(err);
    this.failJob(err);
  }

  /** Tells every worker to stop and closes the control server. */
  async shutdown(reason: string): Promise<void> {
    if (this.state.is('closed')) return;
    await Promise.all([...this.members.values()].map((m) =>
      m.conn.send({ t: 'shutdown', reason }).catch(() => undefined),
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
        if ([...this.members.values()].every((m) => m.ready) && this.members.size === this.opts.worldSize) {
          this.state.to('ready');
          this.opts.logger.info(`world of ${this.opts.worldSize} formed`);
          this.worldWaiter.resolve();
        }
        return;
      case 'result': {
        const job = this.job;
        if (!job || job.jobId !== msg.jobId || job.results[member.rank]) {
          this.opts.logger.warn(`ignored an unexpected result for job ${msg.jobId} from rank ${member.rank}`);
          return;
        }
        job.results[member.rank] = { rank: member.rank, tensors: tensorsFromFrames(msg.tensors), meta: msg.meta };
        if (--job.remaining === 0) job.resolve(job.results as JobResult[]);
        return;
      }
      case 'failed':
        this.failJob(new RingtrainError(msg.code, `worker ${member.rank}: ${msg.message}`, { details: { rank: member.rank, jobId: msg.jobId } }));
        return;
      case 'register':
        void member.conn.fail(new RingtrainError('PROTOCOL', `rank ${member.rank} registered twice on one connection`));
        return;
    }
  }

  private failJob(err: Error): void {
    const job = this.job;
    if (!job) return;
    this.job = null;
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
