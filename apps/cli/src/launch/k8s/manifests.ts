import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { K8sJob } from './options';
import { COORDINATOR_PORT, DATA_PORT, RUNS_MOUNT, SECRET_KEY, TLS_MOUNT, jobNames, workerHost, type JobNames } from './names';

// The kubernetes-models interfaces are imported as types only (erased from the bundle): every
// object literal below is checked by tsc against the Kubernetes API's own field names and types.

export type KubeObject = ISecret | IPersistentVolumeClaim | IService | IJob;

/** One manifest and the file `--out` writes it to (files sort in apply order). */
export interface Manifest {
  readonly file: string;
  readonly object: KubeObject;
}

export type Component = 'coordinator' | 'worker';

/**
 * How long a pod may take to stop after SIGTERM (a deleted job, a drained node): the coordinator
 * finishes its step and writes a checkpoint, for which it still needs rank 0, so the workers stay
 * up as long (`--term-grace-ms`) and the kubelet waits a little longer before its SIGKILL.
 */
export const STOP_GRACE_SECONDS = 300;
const KILL_MARGIN_SECONDS = 30;

/** Restarts before Kubernetes gives a Job up: the coordinator's, and each worker's share. */
export const COORDINATOR_BACKOFF_LIMIT = 6;
export const WORKER_BACKOFF_LIMIT_PER_WORKER = 6;

/** The Vulkan ICD of NVIDIA's driver is mounted into a container only with `graphics`. */
export const NVIDIA_CAPABILITIES = 'compute,utility,graphics';

/**
 * With --tls-secret, RINGTRAIN_TLS_CA names the Secret's ca.crt; a Secret without one (say,
 * from `kubectl create secret tls` with a self-signed certificate) falls back to the
 * certificate itself, decided in the pod because only the pod sees which keys the Secret has.
 * No `$(`: the kubelet leaves this text as it is.
 */
export const TLS_CA_FALLBACK = '[ -f "$RINGTRAIN_TLS_CA" ] || export RINGTRAIN_TLS_CA="$RINGTRAIN_TLS_CERT"; exec ringtrain "$@"';

/** The Secret, the run volume, the two Services and the two Jobs of one training job, in apply order. */
export function buildManifests(job: K8sJob): Manifest[] {
  const names = jobNames(job.name, job.namespace);
  return [
    { file: '00-secret.yaml', object: jobSecret(job, names) },
    { file: '01-run-volume.yaml', object: runVolumeClaim(job, names) },
    { file: '02-coordinator-service.yaml', object: coordinatorService(names) },
    { file: '03-workers-service.yaml', object: workersService(names) },
    { file: '04-coordinator-job.yaml', object: coordinatorJob(job, names) },
    { file: '05-workers-job.yaml', object: workersJob(job, names) },
  ];
}

export function labels(names: JobNames, component?: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'ringtrain',
    'app.kubernetes.io/instance': names.name,
    ...(component ? { 'app.kubernetes.io/component': component } : {}),
  };
}

/**
 * The kubelet expands `$(VAR)` in command, args and env values, and turns `$$` into `$`: user
 * text is doubled so that it reaches ringtrain as typed.
 */
export function kubeletLiteral(text: string): string {
  return text.replace(/\$/g, () => '$$');
}

function jobSecret(job: K8sJob, names: JobNames): ISecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: names.secret, namespace: names.namespace, labels: labels(names) },
    type: 'Opaque',
    stringData: { [SECRET_KEY]: job.secret },
  };
}

function runVolumeClaim(job: K8sJob, names: JobNames): IPersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: names.volumeClaim, namespace: names.namespace, labels: labels(names, 'coordinator') },
    spec: {
      // Only the coordinator reads and writes the run directory.
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: job.storage } },
      ...(job.storageClass === null ? {} : { storageClassName: job.storageClass }),
    },
  };
}

function coordinatorService(names: JobNames): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.coordinatorService, namespace: names.namespace, labels: labels(names, 'coordinator') },
    spec: {
      selector: labels(names, 'coordinator'),
      ports: [{ name: 'control', protocol: 'TCP', port: COORDINATOR_PORT, targetPort: COORDINATOR_PORT }],
    },
  };
}

/**
 * Headless: no virtual IP, one DNS record per worker pod (the pods name it as their subdomain).
 * Not-ready pods are published too, so peers resolve each other as soon as they start.
 */
function workersService(names: JobNames): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.workersService, namespace: names.namespace, labels: labels(names, 'worker') },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: labels(names, 'worker'),
      ports: [{ name: 'data', protocol: 'TCP', port: DATA_PORT, targetPort: DATA_PORT }],
    },
  };
}

function coordinatorJob(job: K8sJob, names: JobNames): IJob {
  const args = [
    'coordinator',
    '--host', '0.0.0.0',
    '--port', String(COORDINATOR_PORT),
    '--run-dir', names.runDir,
    '--workers', String(job.workers),
    ...job.trainFlags.map(kubeletLiteral),
  ];
  const container: IContainer = {
    name: 'coordinator',
    image: job.image,
    ...entrypoint(job, args),
    ports: [{ name: 'control', containerPort: COORDINATOR_PORT, protocol: 'TCP' }],
    env: [...commonEnv(job, names), ...tlsEnv(job)],
    volumeMounts: [{ name: 'runs', mountPath: RUNS_MOUNT }, ...tlsMounts(job)],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: names.coordinatorJob, namespace: names.namespace, labels: labels(names, 'coordinator') },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: COORDINATOR_BACKOFF_LIMIT,
      template: {
        metadata: { labels: labels(names, 'coordinator') },
        spec: {
          restartPolicy: 'OnFailure',
          terminationGracePeriodSeconds: STOP_GRACE_SECONDS + KILL_MARGIN_SECONDS,
          containers: [container],
          volumes: [{ name: 'runs', persistentVolumeClaim: { claimName: names.volumeClaim } }, ...tlsVolumes(job)],
        },
      },
    },
  };
}

function workersJob(job: K8sJob, names: JobNames): IJob {
  const gpus = job.gpusPerWorker > 0;
  const args = [
    'worker',
    '--host', workerHost(names, '$(JOB_COMPLETION_INDEX)'),
    '--bind', '0.0.0.0',
    '--data-port', String(DATA_PORT),
    '--term-grace-ms', String(STOP_GRACE_SECONDS * 1000),
    ...(gpus ? ['--backend', 'webgpu'] : []),
  ];
  const env: IEnvVar[] = [
    // What the Job controller itself would add; declared here so that args may refer to it. The
    // worker takes its rank from it, and local rank 0 (one worker, one GPU per pod).
    { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
    ...commonEnv(job, names),
    { name: 'MASTER_ADDR', value: names.coordinatorHost },
    { name: 'MASTER_PORT', value: String(COORDINATOR_PORT) },
    ...(gpus ? [{ name: 'NVIDIA_DRIVER_CAPABILITIES', value: NVIDIA_CAPABILITIES }] : []),
    ...tlsEnv(job),
  ];
  const container: IContainer = {
    name: 'worker',
    image: job.image,
    ...entrypoint(job, args),
    ports: [{ name: 'data', containerPort: DATA_PORT, protocol: 'TCP' }],
    env,
    ...(gpus ? { resources: { requests: { 'nvidia.com/gpu': job.gpusPerWorker }, limits: { 'nvidia.com/gpu': job.gpusPerWorker } } } : {}),
    ...(job.tlsSecret === null ? {} : { volumeMounts: tlsMounts(job) }),
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: names.workersJob, namespace: names.namespace, labels: labels(names, 'worker') },
    spec: {
      completionMode: 'Indexed',
      completions: job.workers,
      parallelism: job.workers,
      backoffLimit: WORKER_BACKOFF_LIMIT_PER_WORKER * job.workers,
      template: {
        metadata: { labels: labels(names, 'worker') },
        spec: {
          // Pod `<job>-<index>` becomes `<job>-<index>.<subdomain>.<namespace>.svc.cluster.local`.
          subdomain: names.workersService,
          restartPolicy: 'OnFailure',
          terminationGracePeriodSeconds: STOP_GRACE_SECONDS + KILL_MARGIN_SECONDS,
          containers: [container],
          ...(job.tlsSecret === null ? {} : { volumes: tlsVolumes(job) }),
        },
      },
    },
  };
}

/** `ringtrain ARGS`; with TLS, through the shell that picks the CA file. */
function entrypoint(job: K8sJob, args: string[]): Pick<IContainer, 'command' | 'args'> {
  return job.tlsSecret === null ? { command: ['ringtrain'], args } : { command: ['sh', '-c', TLS_CA_FALLBACK, 'ringtrain'], args };
}

function commonEnv(job: K8sJob, names: JobNames): IEnvVar[] {
  return [
    { name: 'RINGTRAIN_SECRET', valueFrom: { secretKeyRef: { name: names.secret, key: SECRET_KEY } } },
    { name: 'RINGTRAIN_JOB_ID', value: names.name },
    { name: 'WORLD_SIZE', value: String(job.workers) },
  ];
}

function tlsEnv(job: K8sJob): IEnvVar[] {
  if (job.tlsSecret === null) return [];
  return [
    { name: 'RINGTRAIN_TLS_CERT', value: `${TLS_MOUNT}/tls.crt` },
    { name: 'RINGTRAIN_TLS_KEY', value: `${TLS_MOUNT}/tls.key` },
    { name: 'RINGTRAIN_TLS_CA', value: `${TLS_MOUNT}/ca.crt` },
  ];
}

function tlsMounts(job: K8sJob): IVolumeMount[] {
  return job.tlsSecret === null ? [] : [{ name: 'tls', mountPath: TLS_MOUNT, readOnly: true }];
}

function tlsVolumes(job: K8sJob): IVolume[] {
  return job.tlsSecret === null ? [] : [{ name: 'tls', secret: { secretName: job.tlsSecret, defaultMode: 0o400 } }];
}
