import { RingtrainError } from '@ringtrain/core';

/** The coordinator's control port, published by its Service. */
export const COORDINATOR_PORT = 29500;
/** Every worker's data-plane port, published by the workers' headless Service. */
export const DATA_PORT = 29600;
/** Where the coordinator mounts the run volume; the run directory is `/runs/<name>`. */
export const RUNS_MOUNT = '/runs';
/** Where every pod mounts the user's kubernetes.io/tls Secret. */
export const TLS_MOUNT = '/etc/ringtrain/tls';
/** The key of the job secret inside the generated Secret. */
export const SECRET_KEY = 'secret';

/**
 * The longest job name: the longest name derived from it, a worker pod's host name
 * `<name>-worker-<index>`, must stay a 63-character DNS label for any realistic world size.
 */
export const MAX_NAME_LENGTH = 40;

/** A DNS-1035 label: what a Service name must be (a DNS-1123 label that starts with a letter). */
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 label: what a namespace name must be. */
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 subdomain: what a Secret or StorageClass name must be. */
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Every object name of one job, derived once from its name and namespace. */
export interface JobNames {
  readonly name: string;
  readonly namespace: string;
  readonly secret: string;
  readonly volumeClaim: string;
  readonly coordinatorService: string;
  readonly workersService: string;
  readonly coordinatorJob: string;
  readonly workersJob: string;
  /** The coordinator Service's cluster DNS name: the workers' MASTER_ADDR. */
  readonly coordinatorHost: string;
  /** The run directory on the run volume. */
  readonly runDir: string;
}

export function jobNames(name: string, namespace: string): JobNames {
  const coordinatorService = `${name}-coordinator`;
  return Object.freeze({
    name,
    namespace,
    secret: `${name}-secret`,
    volumeClaim: `${name}-runs`,
    coordinatorService,
    workersService: `${name}-workers`,
    coordinatorJob: `${name}-coordinator`,
    workersJob: `${name}-worker`,
    coordinatorHost: `${coordinatorService}.${namespace}.svc.cluster.local`,
    runDir: `${RUNS_MOUNT}/${name}`,
  });
}

/**
 * The cluster DNS name of worker `index`: an Indexed Job's pod is named `<job>-<index>` as a
 * host, and with `subdomain` set to a headless Service of that name in its namespace it gets
 * `<job>-<index>.<subdomain>.<namespace>.svc.cluster.local`. `index` may be a `$(VAR)`
 * reference that the kubelet expands.
 */
export function workerHost(names: JobNames, index: number | string): string {
  return `${names.workersJob}-${index}.${names.workersService}.${names.namespace}.svc.cluster.local`;
}

export function checkJobName(name: string): string {
  if (name.length > MAX_NAME_LENGTH || !DNS_LABEL.test(name)) {
    const why = name.length > MAX_NAME_LENGTH ? `it is ${name.length} characters long, over ${MAX_NAME_LENGTH}` : 'it is not a DNS-1123 label starting with a letter';
    throw new RingtrainError('BAD_OPTION', `--name ${JSON.stringify(name)} is not a valid job name: ${why}.`, {
      hint: `use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most ${MAX_NAME_LENGTH} characters (the Services and pod host names are derived from it), e.g. ringtrain-passkey`,
      details: { option: '--name', value: name },
    });
  }
  return name;
}

export function checkNamespace(namespace: string): string {
  if (namespace.length > 63 || !DNS_1123_LABEL.test(namespace)) {
    throw new RingtrainError('BAD_OPTION', `--namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name (a DNS-1123 label).`, {
      hint: "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, e.g. training",
      details: { option: '--namespace', value: namespace },
    });
  }
  return namespace;
}

/** Secret and StorageClass names are DNS-1123 subdomains. */
export function checkObjectName(option: string, value: string, example: string): string {
  if (value.length > 253 || !DNS_1123_SUBDOMAIN.test(value)) {
    throw new RingtrainError('BAD_OPTION', `${option} ${JSON.stringify(value)} is not a Kubernetes object name (a DNS-1123 subdomain).`, {
      hint: `use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. ${example}`,
      details: { option, value },
    });
  }
  return value;
}
