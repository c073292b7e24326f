import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { kernelFsRoot } from '@ringtrain/config';
import { RingtrainError } from '@ringtrain/core';
import { CHECKPOINTS_DIR } from '../checkpoint/store';

/**
 * A run directory belongs to one `train` at a time: `.ringtrain.lock` (pid, host, start time,
 * job id on a cluster) is created exclusively and removed when the process exits. A lock left by
 * a dead process on this host, or by an earlier coordinator of the same job (requeued elsewhere,
 * its pod restarted), is taken over; any other is refused, naming its holder.
 */
export const LOCK_FILE = '.ringtrain.lock';

/** What `train` writes into a run directory (and `--overwrite` removes; nothing else is touched). */
const RUN_FILES = ['config.json', 'metrics.jsonl', 'eval.jsonl', 'summary.json', 'checkpoints.jsonl', 'restarts.jsonl', 'model.safetensors', 'train.log', 'coordinator.log'];

export interface RunLock {
  release(): void;
  /** Set when a stale lock (a dead process on this host) was taken over. */
  tookOverFrom: string | null;
}

export function lockRunDir(runDir: string, opts: { jobId?: string } = {}): RunLock {
  checkRunDirPath(runDir);
  makeDirs(runDir);
  const file = join(runDir, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), ...(opts.jobId ? { jobId: opts.jobId } : {}) });
  let tookOverFrom: string | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw fsError(e, runDir, 'lock the run directory');
      const holder = readHolder(file);
      const here = holder !== null && holder.host === hostname();
      // A lock of this same job (requeued on another node, or its pod restarted) is the job's own
      // earlier coordinator, which a scheduler never runs twice at once: unless a live process
      // here still holds it, it is taken over like a dead process's.
      const sameJob = opts.jobId !== undefined && holder?.jobId === opts.jobId && !(here && holder.pid !== process.pid && alive(holder.pid));
      if (holder && ((here && !alive(holder.pid)) || sameJob)) {
        // Taking over a dead process's lock: renaming it away is atomic, so of two processes
        // doing this at once only one succeeds; the other finds the winner's fresh lock next.
        const stale = `${file}.stale-${process.pid}`;
        try {
          renameSync(file, stale);
        } catch {
          continue;
        }
        const moved = readHolder(stale);
        if (moved?.pid !== holder.pid || moved.startedAt !== holder.startedAt) {
          // Another process took the lock over between our read and our rename: give it back.
          if (!existsSync(file)) renameSync(stale, file);
          continue;
        }
        unlinkSync(stale);
        tookOverFrom = sameJob ? `pid ${holder.pid} on ${holder.host}, an earlier coordinator of job ${opts.jobId}` : `pid ${holder.pid} (no longer running)`;
        continue;
      }
      throw new RingtrainError('RUN_DIR_LOCKED', `run directory ${runDir} is in use by ${holder ? `pid ${holder.pid} on ${holder.host} since ${holder.startedAt}` : `another process (${file})`}`, {
        hint: 'wait for that run to end, stop it, or pass another --run-dir',
        details: { runDir, holder },
      });
    }
  }
  const release = () => {
    try {
      if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  return { release, tookOverFrom };
}

/**
 * Refuses, before anything is created, a run directory that cannot be one: a path on a kernel
 * file system (/proc, /sys; also through a symlink), or a path where a file stands in the
 * way (the directory itself, or one of its parents). Coded errors naming the path and the fix.
 * `as` names another directory an option writes (e.g. `check --dump`).
 */
export function checkRunDirPath(runDir: string, as: { what: string; option: string; code: string } = { what: 'run directory', option: '--run-dir', code: 'RUN_DIR_UNUSABLE' }): void {
  const full = resolve(runDir);
  let existing = full;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // unreadable: the checks below and the first write name the problem
  }
  for (const p of [full, join(real, full.slice(existing.length))]) {
    const root = kernelFsRoot(p);
    if (root !== undefined) {
      throw new RingtrainError(as.code, `${as.what} ${runDir} is under ${root}, a file system of the kernel, not a disk`, {
        hint: `pass ${as.option} with a directory on a disk, e.g. runs/my-run`,
        details: { path: runDir, code: 'VIRTUAL_FS' },
      });
    }
  }
  let isDir = true;
  try {
    isDir = statSync(existing).isDirectory();
  } catch (e) {
    throw fsError(e, runDir, `use the ${as.what}`);
  }
  if (!isDir) {
    throw new RingtrainError(as.code, existing === full ? `${as.what} ${runDir} is a file, not a directory` : `cannot create the ${as.what} ${runDir}: ${existing} is a file, not a directory`, {
      hint: `pass ${as.option} with a directory (a new one is created), or move the file out of the way`,
      details: { path: runDir, code: 'ENOTDIR' },
    });
  }
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdir never returns for some paths (under
 * /proc it retries forever), so each missing level is made on its own and a failure is a coded
 * error naming the path.
 */
export function makeDirs(dir: string): void {
  const full = resolve(dir);
  const missing: string[] = [];
  for (let d = full; !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, dir, 'create the run directory');
    }
  }
}

/** Whether the run directory holds an earlier run (its config, metrics or checkpoints). */
export function hasEarlierRun(runDir: string): boolean {
  try {
    return existsSync(runDir) && readdirSync(runDir).some((f) => RUN_FILES.includes(f) || f === CHECKPOINTS_DIR);
  } catch (e) {
    throw fsError(e, runDir, 'read the run directory');
  }
}

/** `--overwrite`: removes what an earlier `train` wrote (its files, worker logs and ringtrain checkpoints), nothing else. */
export function clearEarlierRun(runDir: string): void {
  try {
    for (const f of readdirSync(runDir)) {
      if (RUN_FILES.includes(f) || /^worker-\d+\.log$/.test(f)) rmSync(join(runDir, f), { force: true });
    }
    const checkpoints = join(runDir, CHECKPOINTS_DIR);
    if (existsSync(checkpoints)) {
      for (const f of readdirSync(checkpoints)) if (/^step-\d+(\.tmp)?$/.test(f) || /^latest(\.tmp)?$/.test(f)) rmSync(join(checkpoints, f), { recursive: true, force: true });
    }
  } catch (e) {
    throw fsError(e, runDir, 'clear the earlier run in');
  }
}

function readHolder(file: string): { pid: number; host: string; startedAt: string; jobId?: string } | null {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v === 'object' && v !== null && 'pid' in v && 'host' in v && 'startedAt' in v && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.startedAt === 'string') {
      return { pid: v.pid, host: v.host, startedAt: v.startedAt, ...('jobId' in v && typeof v.jobId === 'string' ? { jobId: v.jobId } : {}) };
    }
  } catch {
    // unreadable: treated as held by someone unknown
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A filesystem failure on the run directory as a coded error naming the path and the fix. */
export function fsError(e: unknown, path: string, what: string): RingtrainError {
  if (e instanceof RingtrainError) return e;
  const err = e as NodeJS.ErrnoException;
  const hints: Record<string, string> = {
    EACCES: 'this user may not read or write there: choose another --run-dir or fix its permissions',
    EPERM: 'the operation is not permitted there: choose another --run-dir',
    EROFS: 'the file system is read-only: choose another --run-dir',
    ENOSPC: 'the disk is full: free space or choose another --run-dir',
    ENOTDIR: 'a part of the path is a file, not a directory: choose another --run-dir',
    ENOENT: 'a part of the path does not exist and cannot be created: choose another --run-dir',
  };
  const reason = err.code && !String(err.message).startsWith(err.code) ? `${err.code}: ${err.message}` : err.message;
  return new RingtrainError('RUN_DIR_UNUSABLE', `cannot ${what} ${path}: ${reason}`, {
    hint: hints[err.code ?? ''] ?? 'choose another --run-dir',
    details: { path, code: err.code },
  });
}
