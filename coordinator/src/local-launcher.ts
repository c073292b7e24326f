import { spawn, type ChildProcess } from 'node:child_process';
import { RingtrainError, type Logger } from '@ringtrain/core';

/**
 * Starts P worker processes on this machine (the `ringtrain train|check` path; on a cluster,
 * Slurm or Kubernetes start them instead). Each worker gets torchrun-style variables and the job
 * secret through its environment. Output lines are forwarded to the logger; the last lines of
 * stderr are kept so a worker that dies can be explained. stop() leaves no process behind.
 */
export interface LocalLaunchOptions {
  worldSize: number;
  /** argv of the worker entry point, e.g. [process.execPath, 'dist/ringtrain.cjs', 'worker']. */
  command: readonly string[];
  coordinatorUrl: string;
  secret: string;
  logger: Logger;
  /** Extra environment for every worker. */
  env?: Record<string, string>;
  /** BLAS/tfjs threads per worker: cores / P keeps P workers from fighting over the cores. */
  threadsPerWorker?: number;
  /** When set, each worker also writes JSON-line logs to logDir/worker-<rank>.log. */
  logDir?: string;
  /**
   * Start the workers in their own process group, so a Ctrl-C in the terminal reaches only the
   * launching process, which then stops the run in order (`train` saves a checkpoint first).
   */
  detached?: boolean;
}

export interface WorkerExit {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
}

export class LocalLauncher {
  private readonly children: ChildProcess[] = [];
  private readonly tails: string[][] = [];
  private readonly exitListeners: Array<(e: WorkerExit) => void> = [];
  private stopping = false;
  private readonly onParentExit = () => this.killAll('SIGKILL');

  constructor(private readonly opts: LocalLaunchOptions) {}

  start(): void {
    const { worldSize, command, coordinatorUrl, secret, logger } = this.opts;
    process.once('exit', this.onParentExit);
    for (let rank = 0; rank < worldSize; rank++) {
      const threads = String(this.opts.threadsPerWorker ?? 1);
      const child = spawn(command[0], [...command.slice(1), '--coordinator', coordinatorUrl], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: this.opts.detached ?? false,
        env: {
          ...process.env,
          ...this.opts.env,
          RINGTRAIN_SECRET: secret,
          RANK: String(rank),
          LOCAL_RANK: String(rank),
          WORLD_SIZE: String(worldSize),
          OPENBLAS_NUM_THREADS: threads,
          OMP_NUM_THREADS: threads,
          ...(this.opts.logDir ? { RINGTRAIN_LOG_FILE: `${this.opts.logDir}/worker-${rank}.log` } : {}),
        },
      });
      const tail: string[] = [];
      this.tails.push(tail);
      this.children.push(child);
      forwardLines(child.stdout!, (line) => logger.debug(line, { worker: rank }));
      forwardLines(child.stderr!, (line) => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        logger.debug(line, { worker: rank });
      });
      child.on('error', (err) => {
        tail.push(`could not start: ${err.message}`);
      });
      child.on('exit', (code, signal) => {
        // A clean exit (code 0) follows a shutdown; a lost worker mid-run is caught by the coordinator.
        if (this.stopping || code === 0) return;
        const e: WorkerExit = { rank, code, signal, stderrTail: tail.join('\n') };
        for (const l of this.exitListeners) l(e);
      });
    }
  }

  /** Called when a worker exits on its own (not through stop()). */
  onUnexpectedExit(listener: (e: WorkerExit) => void): void {
    this.exitListeners.push(listener);
  }

  /** Waits for workers to exit on their own, then kills what is left after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.race([
      Promise.all(alive.map((c) => new Promise((resolve) => c.once('exit', resolve)))),
      new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
    ]);
    this.killAll('SIGKILL');
    process.removeListener('exit', this.onParentExit);
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  }
}

export function describeExit(e: WorkerExit): RingtrainError {
  const how = e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
  return new RingtrainError('WORKER_EXITED', `worker ${e.rank} ${how} before the job finished`, {
    hint: e.stderrTail ? `its last output:\n${indent(e.stderrTail)}` : 'run with RINGTRAIN_LOG_LEVEL=debug to see worker output',
    details: { rank: e.rank, code: e.code, signal: e.signal },
  });
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trimEnd();
      buffered = buffered.slice(nl + 1);
      if (line) onLine(line);
    }
  });
  stream.on('end', () => {
    if (buffered.trim()) onLine(buffered.trim());
  });
}
