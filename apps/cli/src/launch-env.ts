import { RingtrainError } from '@ringtrain/core';

/**
 * Rank and world size from the environment, torchrun-style (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT), with Slurm's own variables mapped onto them when torchrun's are
 * absent.
 */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  coordinatorUrl: string | null;
}

export function readLaunchEnv(env: NodeJS.ProcessEnv): LaunchEnv {
  const rank = intVar(env, ['RANK', 'SLURM_PROCID']);
  const worldSize = intVar(env, ['WORLD_SIZE', 'SLURM_NTASKS']);
  const localRank = intVar(env, ['LOCAL_RANK', 'SLURM_LOCALID'], rank);
  if (rank >= worldSize) {
    throw new RingtrainError('BAD_RANK', `RANK ${rank} is not below WORLD_SIZE ${worldSize}`, { hint: 'ranks go from 0 to WORLD_SIZE-1' });
  }
  const addr = env.MASTER_ADDR;
  const port = env.MASTER_PORT;
  return { rank, worldSize, localRank, coordinatorUrl: addr && port ? `ws://${addr}:${port}` : null };
}

function intVar(env: NodeJS.ProcessEnv, names: string[], fallback?: number): number {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) {
      throw new RingtrainError('BAD_ENV', `${name}=${JSON.stringify(raw)} is not a non-negative integer`, { hint: `set ${name} to a whole number` });
    }
    return n;
  }
  if (fallback !== undefined) return fallback;
  throw new RingtrainError('BAD_ENV', `none of ${names.join(', ')} is set`, {
    hint: `a worker needs its rank and the world size: set ${names[0]} (or start it through ringtrain check, srun or a Kubernetes Indexed Job)`,
  });
}
