import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError } from '@ringtrain/core';
import { buildManifests, type Manifest } from '../launch/k8s/manifests';
import { COORDINATOR_PORT, DATA_PORT, jobNames } from '../launch/k8s/names';
import { K8S_DEFAULTS, k8sJobFrom, type K8sJob, type K8sLaunchFlags } from '../launch/k8s/options';
import { renderManifest, renderManifests } from '../launch/k8s/render';

/**
 * `ringtrain launch k8s [flags] -- TRAIN FLAGS`: the Kubernetes manifests of one training job
 * (a Secret with a fresh job secret, the run volume, the coordinator's Service and Job, the
 * workers' headless Service and Indexed Job), printed for `kubectl apply -f -` or written to a
 * directory. Nothing is sent to a cluster.
 */
export function registerLaunchK8s(launch: Command): void {
  launch
    .command('k8s')
    .description('Print the Kubernetes manifests of a training job: a coordinator Job and an Indexed Job of workers (pipe to `kubectl apply -f -`).')
    .argument('[train-flags...]', '`ringtrain train` flags for the coordinator, after --')
    .option('--workers <n>', 'worker pods, one worker each (the world size)', K8S_DEFAULTS.workers)
    .option('--gpus-per-worker <g>', 'nvidia.com/gpu per worker pod; 0: CPU workers (a worker uses one GPU)', K8S_DEFAULTS.gpusPerWorker)
    .option('--image <image>', 'container image with ringtrain on its PATH (see docs/kubernetes.md)', K8S_DEFAULTS.image)
    .option('--storage-class <class>', 'StorageClass of the run volume (default: the cluster\'s default class)')
    .option('--storage <size>', 'size of the run volume (checkpoints, metrics, logs)', K8S_DEFAULTS.storage)
    .option('--namespace <ns>', 'namespace of every object', K8S_DEFAULTS.namespace)
    .option('--name <name>', 'job name, a DNS label of at most 40 characters (default: ringtrain-<6 random hex>)')
    .option('--out <dir>', 'write one file per object into DIR (mode 0600) instead of printing')
    .option('--tls-secret <secret>', 'a kubernetes.io/tls Secret of the namespace: every pod mounts it and speaks TLS')
    .addHelpText('after', '\nExample:\n  ringtrain launch k8s --workers 4 --image registry.example.com/ringtrain:1 -- --model small --seq-len 16384 --steps 1000 | kubectl apply -f -')
    .action((trainFlags: string[], flags: K8sLaunchFlags) => {
      const job = k8sJobFrom(flags, trainFlags);
      if (job.gpusPerWorker > 1) {
        process.stderr.write(`ringtrain: note: a worker computes on one GPU; --gpus-per-worker ${job.gpusPerWorker} reserves ${job.gpusPerWorker - 1} more per pod that stay idle\n`);
      }
      const manifests = buildManifests(job);
      if (flags.out !== undefined) {
        writeManifests(flags.out, manifests);
        process.stderr.write(`ringtrain: wrote ${manifests.length} manifests of job ${job.name} to ${flags.out} (mode 0600: they hold the job secret)\n`);
        process.stderr.write(`ringtrain: start it with: kubectl apply -f ${flags.out}\n`);
      } else {
        if (process.stdout.isTTY) {
          process.stderr.write('ringtrain: note: this output holds the job secret; pipe it to `kubectl apply -f -` or write it with --out DIR\n');
        }
        process.stdout.write(renderManifests(manifests));
      }
      process.stderr.write(`ringtrain: ${followHint(job)}\n`);
    });
}

function followHint(job: K8sJob): string {
  const names = jobNames(job.name, job.namespace);
  return `job ${job.name} (${job.workers} workers; coordinator ${names.coordinatorHost}:${COORDINATOR_PORT}, data port ${DATA_PORT}): follow it with kubectl -n ${job.namespace} logs -f job/${names.coordinatorJob}`;
}

/** One file per object, created (never overwritten) with mode 0600 in a directory only its owner may enter. */
function writeManifests(dir: string, manifests: readonly Manifest[]): void {
  const taken = manifests.map((m) => join(dir, m.file)).filter((path) => existsSync(path));
  if (taken.length > 0) {
    throw new RingtrainError('OUT_EXISTS', `--out ${dir} already holds manifests (${taken.join(', ')})`, {
      hint: 'give another --out directory; an earlier job\'s files are kept (remove them after `kubectl delete -f` if that job is over)',
      details: { dir, taken },
    });
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const manifest of manifests) writeFileSync(join(dir, manifest.file), renderManifest(manifest), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new RingtrainError('OUT_WRITE', `cannot write the manifests into ${dir}: ${code}`, { hint: 'give an --out directory this user may create and write', details: { dir, code }, cause: err });
  }
}
