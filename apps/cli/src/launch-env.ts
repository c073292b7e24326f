import { readFileSync, statSync } from 'node:fs';
import { RingtrainError } from '@ringtrain/core';
import { firstHost } from './launch/nodelist';

/**
 * Where a process stands in a job, read from the environment a launcher leaves: torchrun's
 * (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), Slurm's
 * (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NODELIST, SLURM_JOB_ID) and a Kubernetes
 * Indexed Job's (JOB_COMPLETION_INDEX). torchrun's names win where both are set.
 */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  /** Rank among the workers of this machine: which GPU is this worker's. */
  localRank: number;
  /** Workers on this machine (LOCAL_WORLD_SIZE), when the launcher says. */
  localWorldSize: number | null;
  coordinatorUrl: string | null;
  /** RINGTRAIN_JOB_ID, else Slurm's job id. */
  jobId: string | undefined;
}

/** Slurm's first port: the coordinator of job J listens on SLURM_PORT_BASE + J mod SLURM_PORT_SPAN. */
export const SLURM_PORT_BASE = 20000;
export const SLURM_PORT_SPAN = 20000;

/** The coordinator's port for a Slurm job (MASTER_PORT unset): the same on every node, different for jobs that share a node. */
export function slurmPort(jobId: number): number {
  return SLURM_PORT_BASE + (jobId % SLURM_PORT_SPAN);
}

export function readLaunchEnv(env: NodeJS.ProcessEnv, scheme: 'ws' | 'wss' = 'ws'): LaunchEnv {
  const rank = intVar(env, ['RANK', 'SLURM_PROCID', 'JOB_COMPLETION_INDEX']);
  const worldSize = intVar(env, ['WORLD_SIZE', 'SLURM_NTASKS']);
  // A Kubernetes pod holds one worker (and its one GPU): local rank 0.
  const localRank = intVar(env, ['LOCAL_RANK', 'SLURM_LOCALID'], set(env.JOB_COMPLETION_INDEX) ? 0 : rank);
  if (rank >= worldSize) {
    throw new RingtrainError('BAD_RANK', `RANK ${rank} is not below WORLD_SIZE ${worldSize}`, { hint: 'ranks go from 0 to WORLD_SIZE-1' });
  }
  const localWorldSize = set(env.LOCAL_WORLD_SIZE) ? intVar(env, ['LOCAL_WORLD_SIZE']) : null;
  const addr = set(env.MASTER_ADDR) ? env.MASTER_ADDR! : set(env.SLURM_JOB_NODELIST) ? firstHost(env.SLURM_JOB_NODELIST!) : null;
  const port = coordinatorPort(env);
  return { rank, worldSize, localRank, localWorldSize, coordinatorUrl: addr && port !== null ? `${scheme}://${addr}:${port}` : null, jobId: jobIdOf(env) };
}

/** MASTER_PORT, else the port derived from Slurm's job id; null when neither is set. */
export function coordinatorPort(env: NodeJS.ProcessEnv): number | null {
  if (set(env.MASTER_PORT)) {
    const port = intVar(env, ['MASTER_PORT']);
    if (port < 1 || port > 65535) throw new RingtrainError('BAD_ENV', `MASTER_PORT=${env.MASTER_PORT} is not a port (1-65535)`, { hint: 'set MASTER_PORT to a free TCP port, e.g. 29500' });
    return port;
  }
  return set(env.SLURM_JOB_ID) ? slurmPort(intVar(env, ['SLURM_JOB_ID'])) : null;
}

export function jobIdOf(env: NodeJS.ProcessEnv): string | undefined {
  return set(env.RINGTRAIN_JOB_ID) ? env.RINGTRAIN_JOB_ID : set(env.SLURM_JOB_ID) ? env.SLURM_JOB_ID : undefined;
}

/**
 * The job secret: RINGTRAIN_SECRET, or the contents of RINGTRAIN_SECRET_FILE, a file only its
 * owner may read (a launcher writes it with mode 0600; a secret others can read is refused).
 */
export function readSecret(env: NodeJS.ProcessEnv, who: string): string {
  if (set(env.RINGTRAIN_SECRET)) return env.RINGTRAIN_SECRET!;
  const file = env.RINGTRAIN_SECRET_FILE;
  if (!set(file)) {
    throw new RingtrainError('NO_SECRET', `${who} has no job secret: neither RINGTRAIN_SECRET nor RINGTRAIN_SECRET_FILE is set`, {
      hint: 'the launcher passes the job secret; by hand, set RINGTRAIN_SECRET_FILE to a file (chmod 600) holding the secret every process of the job gets',
    });
  }
  let mode: number;
  let secret: string;
  try {
    mode = statSync(file!).mode;
    secret = readFileSync(file!, 'utf8').trim();
  } catch (err) {
    throw new RingtrainError('SECRET_FILE', `cannot read the job secret from ${file} (RINGTRAIN_SECRET_FILE): ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      hint: 'the file must exist on every node (a shared file system) and be readable by the user running the job',
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new RingtrainError('SECRET_FILE_OPEN', `the job secret file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)})`, { hint: `chmod 600 ${file}` });
  }
  if (secret.length < 16) throw new RingtrainError('SECRET_FILE', `the job secret in ${file} is ${secret.length === 0 ? 'empty' : 'shorter than 16 characters'}`, { hint: 'write a long random secret, e.g. openssl rand -hex 24' });
  return secret;
}

function set(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

function intVar(env: NodeJS.ProcessEnv, names: string[], fallback?: number): number {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
      throw new RingtrainError('BAD_ENV', `${name}=${JSON.stringify(raw)} is not a non-negative integer`, { hint: `set ${name} to a whole number` });
    }
    return n;
  }
  if (fallback !== undefined) return fallback;
  throw new RingtrainError('BAD_ENV', `none of ${names.join(', ')} is set`, {
    hint: `a worker needs its rank and the world size: set ${names[0]} (or start it through ringtrain train, srun or a Kubernetes Indexed Job)`,
  });
}
