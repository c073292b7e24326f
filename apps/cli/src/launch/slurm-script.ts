import { SLURM_PORT_BASE, SLURM_PORT_SPAN } from '../launch-env';

/** What one sbatch script of a training job is made of (checked by `launch slurm` before it gets here). */
export interface SlurmJob {
  jobName: string;
  nodes: number;
  /** Worker processes per node (one per GPU when the job has GPUs). */
  tasksPerNode: number;
  gpusPerNode: number;
  cpusPerTask?: number;
  time?: string;
  partition?: string;
  account?: string;
  /** Extra `#SBATCH` arguments, verbatim. */
  sbatchArgs: string[];
  /** Seconds before the time limit at which the run checkpoints, stops and requeues itself. */
  signalBeforeSec: number;
  /** Absolute run directory (on storage every node sees). */
  runDir: string;
  /** node and the CLI entry, absolute: the same installation on every node. */
  node: string;
  cli: string;
  /** `ringtrain train` flags for the coordinator, without --run-dir and --workers. */
  trainFlags: string[];
  /** Times the workers are started again after one of them failed (the coordinator's --max-restarts). */
  maxRestarts: number;
  /** Interface the coordinator and the workers' data planes listen on. */
  bind: string;
  /** Files of TLS (absolute), exported to every process of the job. */
  tls: { cert?: string; key?: string; ca?: string };
  /** How long a worker stays up after SIGTERM for the coordinator's last checkpoint. */
  workerTermGraceMs: number;
}

/** The file the job secret lives in: only its owner may read it, and it never appears on a command line. */
export const SECRET_FILE = '.secret';

/** Quotes one word for bash. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sbatch script of a training job. The batch shell runs on the first node: it starts the
 * coordinator there (port derived from the job id, so jobs sharing a node do not collide), then
 * one `srun` task per worker. A failed worker ends the step (--kill-on-bad-exit) and the workers
 * are started again while the coordinator re-forms the world from its latest checkpoint.
 * `--signal` warns the batch shell before the time limit: the coordinator checkpoints and stops,
 * and the job requeues itself. A requeued or preempted job starts this script again and the
 * coordinator continues the run from its checkpoint.
 */
export function slurmScript(job: SlurmJob): string {
  const q = shellQuote;
  const single = job.nodes === 1;
  const sbatch = [
    `--job-name=${job.jobName}`,
    `--nodes=${job.nodes}`,
    `--ntasks-per-node=${job.tasksPerNode}`,
    ...(job.gpusPerNode > 0 ? [`--gpus-per-node=${job.gpusPerNode}`] : []),
    ...(job.cpusPerTask ? [`--cpus-per-task=${job.cpusPerTask}`] : []),
    ...(job.time ? [`--time=${job.time}`] : []),
    ...(job.partition ? [`--partition=${job.partition}`] : []),
    ...(job.account ? [`--account=${job.account}`] : []),
    `--signal=B:USR1@${job.signalBeforeSec}`,
    '--requeue',
    '--open-mode=append',
    `--output=${job.runDir}/slurm-%j.out`,
    ...job.sbatchArgs,
  ];
  const tlsEnv = (['cert', 'key', 'ca'] as const).filter((k) => job.tls[k]).map((k) => `export RINGTRAIN_TLS_${k.toUpperCase()}=${q(job.tls[k]!)}`);
  const srun = [
    'srun', '--kill-on-bad-exit=1', '--ntasks="$SLURM_NTASKS"', `--ntasks-per-node=${job.tasksPerNode}`,
    ...(job.gpusPerNode > 0 ? ['--gpus-per-task=1'] : []),
    `--export=ALL,LOCAL_WORLD_SIZE=${job.tasksPerNode}`,
    '"$NODE"', '"$CLI"', 'worker', '--host', single ? '127.0.0.1' : 'auto', '--bind', job.bind, '--term-grace-ms', String(job.workerTermGraceMs),
  ];
  return `#!/bin/bash
# A ringtrain training job, written by \`ringtrain launch slurm\`. Submit with: sbatch THIS_FILE
${sbatch.map((a) => `#SBATCH ${a}`).join('\n')}
set -u

RUN_DIR=${q(job.runDir)}
NODE=${q(job.node)}
CLI=${q(job.cli)}
export RINGTRAIN_RUN_DIR="$RUN_DIR"
# The job secret stays in a file only its owner reads; it is never on a command line.
export RINGTRAIN_SECRET_FILE="$RUN_DIR/${SECRET_FILE}"
export RINGTRAIN_JOB_ID="$SLURM_JOB_ID"
# The coordinator runs here, on the first node; its port comes from the job id (the same after a requeue).
export MASTER_ADDR=${single ? '127.0.0.1' : '"$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"'}
export MASTER_PORT=$(( ${SLURM_PORT_BASE} + SLURM_JOB_ID % ${SLURM_PORT_SPAN} ))
${tlsEnv.join('\n')}${tlsEnv.length ? '\n' : ''}
echo "ringtrain: job $SLURM_JOB_ID (start $(( \${SLURM_RESTART_COUNT:-0} + 1 ))) on $SLURM_JOB_NODELIST: coordinator $MASTER_ADDR:$MASTER_PORT, $SLURM_NTASKS workers"

# Waits for a background process; a trapped signal interrupts \`wait\`, so wait again while it lives.
wait_for() {
  local code
  while :; do
    wait "$1"; code=$?
    kill -0 "$1" 2>/dev/null || return "$code"
  done
}

# Before the time limit (--signal): the coordinator checkpoints after its step and stops; the job then requeues itself.
time_limit=0
trap 'time_limit=1; echo "ringtrain: the time limit is near: checkpointing and requeueing"; kill -TERM "$coordinator" 2>/dev/null' USR1
# scancel, requeue, preemption: Slurm signals every process; the coordinator checkpoints and the workers wait for it.
trap 'echo "ringtrain: SIGTERM: the coordinator checkpoints and stops"' TERM

"$NODE" "$CLI" coordinator --host ${job.bind} --run-dir "$RUN_DIR" ${job.trainFlags.map(q).join(' ')} &
coordinator=$!

starts=0
while kill -0 "$coordinator" 2>/dev/null; do
  ${srun.join(' ')} &
  wait_for $!; code=$?
  [ "$code" = 0 ] && break
  starts=$((starts + 1))
  if [ "$starts" -gt ${job.maxRestarts} ] || [ "$time_limit" = 1 ]; then break; fi
  echo "ringtrain: the workers' step ended with code $code; starting them again ($starts of ${job.maxRestarts}) to rejoin the coordinator"
  sleep 5
done

if [ "$code" != 0 ] && [ "$time_limit" = 0 ] && kill -0 "$coordinator" 2>/dev/null; then
  # The workers failed more often than --max-restarts allows: the coordinator would wait for them in vain.
  echo "ringtrain: the workers failed $starts times; stopping the coordinator (the run continues from its latest checkpoint when resubmitted)"
  kill -TERM "$coordinator"; sleep 2; kill -TERM "$coordinator" 2>/dev/null
fi
wait_for "$coordinator"; code=$?
if [ "$time_limit" = 1 ]; then
  echo "ringtrain: requeueing job $SLURM_JOB_ID: it continues from its checkpoint"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$code"
`;
}
