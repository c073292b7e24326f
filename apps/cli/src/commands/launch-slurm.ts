import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, optionError } from '@ringtrain/core';
import { checkEvalSamples, makeDirs, openRunData } from '@ringtrain/coordinator';
import { parseIntOption } from '../check/config';
import { cliEntry } from '../cli-entry';
import { slurmScript, type SlurmJob } from '../launch/slurm-script';
import { addTlsOptions, tlsFromFlags, type TlsFlags } from '../tls-flags';
import { parseTrainFlags } from './train-options';
import { resolveFromFlags, writeJobSecret } from './train';

interface SlurmFlags extends TlsFlags {
  nodes: string;
  gpusPerNode: string;
  tasksPerNode?: string;
  cpusPerTask?: string;
  time?: string;
  partition?: string;
  account?: string;
  jobName: string;
  sbatchArg: string[];
  signalBefore: string;
  bind?: string;
  dryRun: boolean;
}

/** Train flags the launch sets itself. */
const SET_BY_LAUNCH = ['workers'] as const;

/**
 * `ringtrain launch slurm [flags] -- TRAIN FLAGS`: writes the job's sbatch script (and a fresh
 * job secret, mode 0600) into the run directory and submits it. The train flags are checked
 * here first, so a typo is refused before the job waits in the queue.
 */
export function registerLaunchSlurm(launch: Command): void {
  addTlsOptions(launch
    .command('slurm')
    .description('Write and submit an sbatch script that trains on N nodes: the coordinator on the first, one srun task per GPU; it checkpoints before its time limit and resumes by itself when requeued.')
    .argument('[train-flags...]', '`ringtrain train` flags, after --')
    .option('--nodes <n>', 'nodes', '1')
    .option('--gpus-per-node <g>', 'GPUs per node, one worker each (0: CPU workers)', '0')
    .option('--tasks-per-node <n>', 'workers per node (default: --gpus-per-node, or 1 without GPUs)')
    .option('--cpus-per-task <n>', 'cores per worker (#SBATCH --cpus-per-task)')
    .option('--time <limit>', 'time limit, e.g. 24:00:00 (the run checkpoints and requeues itself before it)')
    .option('--partition <p>', 'partition')
    .option('--account <a>', 'account')
    .option('--job-name <name>', 'job name', 'ringtrain')
    .option('--sbatch-arg <arg>', 'one more #SBATCH argument, e.g. --sbatch-arg=--qos=high (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--signal-before <s>', 'seconds before the time limit at which the run checkpoints, stops and requeues', '300')
    .option('--bind <address>', 'interface the coordinator and the workers listen on (default: 127.0.0.1 on one node, 0.0.0.0 on several)')
    .option('--dry-run', 'print the script; write and submit nothing', false)
    .addHelpText('after', '\nExample:\n  ringtrain launch slurm --nodes 2 --gpus-per-node 4 --time 24:00:00 -- --model small --seq-len 65536 --steps 10000 --checkpoint-every 200 --max-restarts 3'))
    .action((words: string[], flags: SlurmFlags) => {
      const job = slurmJob(flags, words);
      const script = slurmScript(job);
      if (flags.dryRun) {
        process.stdout.write(script);
        return;
      }
      submit(job, script);
    });
}

function slurmJob(flags: SlurmFlags, words: string[]): SlurmJob {
  const train = parseTrainFlags(words, 'launch slurm');
  for (const key of SET_BY_LAUNCH) {
    if (train[key] !== undefined) throw new RingtrainError('BAD_OPTION', `--${key} is set by launch slurm (nodes × tasks per node)`, { hint: 'drop it from the train flags; use --nodes and --tasks-per-node or --gpus-per-node' });
  }
  const nodes = parseIntOption('--nodes', flags.nodes, 1);
  const gpusPerNode = parseIntOption('--gpus-per-node', flags.gpusPerNode, 0);
  const tasksPerNode = flags.tasksPerNode === undefined ? Math.max(1, gpusPerNode) : parseIntOption('--tasks-per-node', flags.tasksPerNode, 1);
  if (gpusPerNode > 0 && tasksPerNode > gpusPerNode) {
    throw optionError('--tasks-per-node', tasksPerNode, `at most --gpus-per-node (${gpusPerNode}): each worker takes one GPU`);
  }
  const signalBeforeSec = parseIntOption('--signal-before', flags.signalBefore, 10);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(flags.jobName)) throw optionError('--job-name', flags.jobName, 'letters, digits, _ . - (at most 64)');
  if (flags.time !== undefined && !/^(\d+-)?\d+(:\d+){0,2}$/.test(flags.time)) throw optionError('--time', flags.time, 'a Slurm time such as 90, 4:00:00 or 2-00:00:00');
  // The run's config as the coordinator will resolve it: bad flags, missing data and a
  // held-out part too small are refused now, not after the job waited in the queue.
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const runDir = resolve(train.runDir ?? join('runs', `${flags.jobName}-${stamp}`));
  // `--strategy auto` is planned by the coordinator on the cluster (its kernel measured there); a stand-in checks the rest now.
  const cfg = resolveFromFlags({ ...train, strategy: train.strategy === 'auto' ? 'striped' : train.strategy, runDir, workers: String(nodes * tasksPerNode) });
  const { eval: heldOut } = openRunData(cfg);
  if (heldOut) checkEvalSamples(heldOut, cfg.evalSamples, '--eval-samples');
  const tlsFiles = { cert: flags.tlsCert ?? process.env.RINGTRAIN_TLS_CERT, key: flags.tlsKey ?? process.env.RINGTRAIN_TLS_KEY, ca: flags.tlsCa ?? process.env.RINGTRAIN_TLS_CA };
  const tls = tlsFromFlags(flags, process.env); // a key that does not match its certificate is refused here
  const bind = flags.bind ?? (nodes === 1 ? '127.0.0.1' : '0.0.0.0');
  if (!tls && nodes > 1) {
    process.stderr.write('ringtrain: warning: without TLS the job secret and the tensors cross the network between nodes in clear; pass --tls-cert, --tls-key (and --tls-ca) to encrypt them\n');
  }
  return {
    jobName: flags.jobName,
    nodes,
    tasksPerNode,
    gpusPerNode,
    cpusPerTask: flags.cpusPerTask === undefined ? undefined : parseIntOption('--cpus-per-task', flags.cpusPerTask, 1),
    time: flags.time,
    partition: flags.partition,
    account: flags.account,
    sbatchArgs: flags.sbatchArg,
    signalBeforeSec,
    runDir,
    node: process.execPath,
    cli: resolve(cliEntry()),
    trainFlags: words.filter((_, i) => !isRunDirWord(words, i)),
    maxRestarts: cfg.maxRestarts,
    bind,
    tls: tls ? { cert: resolve(tlsFiles.cert!), key: resolve(tlsFiles.key!), ...(tlsFiles.ca ? { ca: resolve(tlsFiles.ca) } : {}) } : {},
    workerTermGraceMs: Math.max(10_000, (signalBeforeSec - 10) * 1000),
  };
}

/** `--run-dir X` or `--run-dir=X` in the train flags: the script passes the resolved directory itself. */
function isRunDirWord(words: string[], i: number): boolean {
  return words[i] === '--run-dir' || words[i].startsWith('--run-dir=') || (i > 0 && words[i - 1] === '--run-dir');
}

function submit(job: SlurmJob, script: string): void {
  const probe = spawnSync('sbatch', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new RingtrainError('SLURM_NOT_FOUND', 'sbatch is not on the PATH: this is not a Slurm login node', { hint: 'run it where sbatch works, or pass --dry-run to see the script' });
  }
  makeDirs(job.runDir);
  writeJobSecret(job.runDir); // fresh for every launch; the script names the file, never the secret
  const scriptFile = join(job.runDir, `${job.jobName}.sbatch`);
  writeFileSync(scriptFile, script, { mode: 0o700 });
  const r = spawnSync('sbatch', ['--parsable', scriptFile], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new RingtrainError('SLURM_SUBMIT_FAILED', `sbatch refused ${basename(scriptFile)}: ${(r.stderr || r.stdout).trim()}`, {
      hint: `the script is in ${scriptFile}; check --partition, --account, --time and the GPU request against \`sinfo\``,
    });
  }
  const jobId = r.stdout.trim().split(';')[0];
  const out = join(job.runDir, `slurm-${jobId}.out`);
  process.stdout.write(`submitted job ${jobId}: ${job.nodes} node(s) × ${job.tasksPerNode} worker(s)\n  run directory ${job.runDir}\n  output        ${out}${existsSync(out) ? '' : ' (once it starts)'}\n  watch         squeue -j ${jobId}; tail -f ${out}\n  stop          scancel ${jobId} (it saves a checkpoint first)\n`);
  process.stdout.write(`JOB_ID=${jobId}\n`);
}
