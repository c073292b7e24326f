import { randomBytes } from 'node:crypto';
import { RingtrainError, optionError } from '@ringtrain/core';
import { parseIntOption } from '../../check/config';
import { checkJobName, checkNamespace, checkObjectName } from './names';

/** The flags of `ringtrain launch k8s`, as commander hands them over. */
export interface K8sLaunchFlags {
  workers: string;
  gpusPerWorker: string;
  image: string;
  storageClass?: string;
  storage: string;
  namespace: string;
  name?: string;
  out?: string;
  tlsSecret?: string;
}

export const K8S_DEFAULTS = Object.freeze({
  workers: '2',
  gpusPerWorker: '1',
  image: 'ringtrain:latest',
  storage: '20Gi',
  namespace: 'default',
});

/** One training job on Kubernetes, validated: everything the manifests are built from. */
export interface K8sJob {
  readonly name: string;
  readonly namespace: string;
  readonly workers: number;
  readonly gpusPerWorker: number;
  readonly image: string;
  readonly storageClass: string | null;
  readonly storage: string;
  readonly tlsSecret: string | null;
  /** `ringtrain train` flags, handed to the coordinator as they are. */
  readonly trainFlags: readonly string[];
  /** The job secret: only ever written into the Secret's stringData. */
  readonly secret: string;
}

/**
 * Train flags that `launch k8s` sets itself, or that would hurt in a pod that Kubernetes
 * restarts: each with what to do instead.
 */
const OWNED_TRAIN_FLAGS: Readonly<Record<string, string>> = {
  '--workers': 'give the world size as `launch k8s --workers N` (before --)',
  '--run-dir': 'the run directory is /runs/<name> on the job\'s volume; choose it with `launch k8s --name`',
  '--backend': 'the workers\' backend follows --gpus-per-worker: webgpu with GPUs, auto without',
  '--overwrite': 'a restarted coordinator would wipe its own run; start a new job (another --name) instead',
  '--resume': 'the coordinator continues the run in /runs/<name> by itself: launch again with the same --name',
  '--host': 'the coordinator listens on 0.0.0.0 in its pod',
  '--port': `the coordinator's port is fixed by its Service`,
  '--config-stdin': 'the coordinator takes its flags on the command line in a pod',
  '--resolved-config': 'pass train flags (or --config FILE inside the image) instead',
};

/** A Kubernetes quantity for a volume size: an integer or decimal with an optional unit suffix. */
const STORAGE_SIZE = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/** A fresh job secret: 24 random bytes as 48 hex characters. */
export function newJobSecret(): string {
  return randomBytes(24).toString('hex');
}

/** A fresh job name, `ringtrain-<6 hex>`. */
export function newJobName(): string {
  return `ringtrain-${randomBytes(3).toString('hex')}`;
}

/** Flags -> validated, frozen job. Every error names the option, the value and what would work. */
export function k8sJobFrom(flags: K8sLaunchFlags, trainFlags: readonly string[], secret: string = newJobSecret()): K8sJob {
  const workers = parseIntOption('--workers', flags.workers, 1);
  const gpusPerWorker = parseIntOption('--gpus-per-worker', flags.gpusPerWorker, 0);
  const image = flags.image.trim();
  if (image === '' || /\s/.test(image)) throw optionError('--image', flags.image, 'a container image reference without spaces, e.g. registry.example.com/ringtrain:1.0');
  if (!STORAGE_SIZE.test(flags.storage)) throw optionError('--storage', flags.storage, 'a Kubernetes quantity such as 20Gi, 500Mi or 1Ti');
  for (const flag of trainFlags) {
    const bare = flag.split('=')[0];
    const instead = OWNED_TRAIN_FLAGS[bare];
    if (instead !== undefined) {
      throw new RingtrainError('BAD_OPTION', `the train flag ${bare} is set by \`launch k8s\` itself`, { hint: instead, details: { flag } });
    }
  }
  return Object.freeze({
    name: checkJobName(flags.name ?? newJobName()),
    namespace: checkNamespace(flags.namespace),
    workers,
    gpusPerWorker,
    image,
    storageClass: flags.storageClass === undefined ? null : checkObjectName('--storage-class', flags.storageClass, 'standard'),
    storage: flags.storage,
    tlsSecret: flags.tlsSecret === undefined ? null : checkObjectName('--tls-secret', flags.tlsSecret, 'ringtrain-tls'),
    trainFlags: Object.freeze([...trainFlags]),
    secret,
  });
}
