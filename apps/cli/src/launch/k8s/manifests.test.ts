import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { buildManifests, TLS_CA_FALLBACK, type KubeObject } from './manifests';
import { K8S_DEFAULTS, k8sJobFrom, type K8sLaunchFlags } from './options';
import { renderManifests } from './render';
import { expandKubeletRefs, flagValue, onlyContainer, parseYamlStream, resolveContainer, validateKubeObject } from './testing/kube';

/** A job's manifests as kubectl would read them: rendered to YAML and parsed back. */
function launch(flags: Partial<K8sLaunchFlags> = {}, trainFlags: string[] = ['--model', 'tiny', '--steps', '3']) {
  const job = k8sJobFrom({ ...K8S_DEFAULTS, name: 'rt-test', namespace: 'training', ...flags }, trainFlags);
  const yaml = renderManifests(buildManifests(job));
  const docs = parseYamlStream(yaml) as unknown as KubeObject[];
  const find = <T extends KubeObject>(kind: string, name: string): T => {
    const found = docs.filter((d) => d.kind === kind && d.metadata?.name === name);
    if (found.length !== 1) throw new Error(`${found.length} ${kind} named ${name}`);
    return found[0] as T;
  };
  const secrets = Object.fromEntries(docs.filter((d): d is ISecret => d.kind === 'Secret').map((s) => [s.metadata!.name!, s.stringData ?? {}]));
  return {
    job,
    yaml,
    docs,
    secrets,
    secret: find<ISecret>('Secret', `${job.name}-secret`),
    pvc: find<IPersistentVolumeClaim>('PersistentVolumeClaim', `${job.name}-runs`),
    coordinatorService: find<IService>('Service', `${job.name}-coordinator`),
    workersService: find<IService>('Service', `${job.name}-workers`),
    coordinatorJob: find<IJob>('Job', `${job.name}-coordinator`),
    workersJob: find<IJob>('Job', `${job.name}-worker`),
  };
}

const VARIANTS: [string, Partial<K8sLaunchFlags>][] = [
  ['defaults (1 GPU per worker)', {}],
  ['CPU workers (G = 0)', { gpusPerWorker: '0' }],
  ['TLS', { tlsSecret: 'ringtrain-tls' }],
  ['8 workers, 2 GPUs, a storage class, TLS', { workers: '8', gpusPerWorker: '2', storageClass: 'fast-ssd', storage: '1.5Ti', tlsSecret: 'ringtrain-tls' }],
  ['1 worker, G = 0', { workers: '1', gpusPerWorker: '0' }],
];

function podLabels(job: IJob): Record<string, string> {
  return job.spec!.template.metadata!.labels!;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe.each(VARIANTS)('launch k8s manifests: %s', (_label, flags) => {
  const m = launch(flags);

  it('are six documents, each valid against the Kubernetes schema of its kind', () => {
    expect(m.docs.map((d) => d.kind).sort()).toEqual(['Job', 'Job', 'PersistentVolumeClaim', 'Secret', 'Service', 'Service']);
    for (const doc of m.docs) expect(() => validateKubeObject(doc)).not.toThrow();
  });

  it('label every object with the app and the instance, in the namespace given', () => {
    for (const doc of m.docs) {
      expect(doc.metadata?.namespace).toBe('training');
      expect(doc.metadata?.labels).toMatchObject({ 'app.kubernetes.io/name': 'ringtrain', 'app.kubernetes.io/instance': m.job.name });
    }
  });

  it('select the coordinator pod with the coordinator Service and the worker pods with the headless one', () => {
    const coordinatorPod = podLabels(m.coordinatorJob);
    const workerPod = podLabels(m.workersJob);
    const coordinatorSelector = m.coordinatorService.spec!.selector!;
    const workersSelector = m.workersService.spec!.selector!;
    expect(matches(coordinatorSelector, coordinatorPod)).toBe(true);
    expect(matches(coordinatorSelector, workerPod)).toBe(false);
    expect(matches(workersSelector, workerPod)).toBe(true);
    expect(matches(workersSelector, coordinatorPod)).toBe(false);
    expect(m.workersService.spec!.clusterIP).toBe('None');
    expect(m.workersJob.spec!.template.spec!.subdomain).toBe(m.workersService.metadata!.name);
  });

  it('point every worker at the coordinator Service, whose port is the coordinator\'s', () => {
    const service = m.coordinatorService;
    const port = service.spec!.ports![0];
    const coordinator = resolveContainer(onlyContainer(m.coordinatorJob), 0, m.secrets);
    expect(Number(flagValue(coordinator.argv, '--port'))).toBe(port.targetPort);
    expect(onlyContainer(m.coordinatorJob).ports![0].containerPort).toBe(port.targetPort);
    for (let rank = 0; rank < m.job.workers; rank++) {
      const { env } = resolveContainer(onlyContainer(m.workersJob), rank, m.secrets);
      expect(env.MASTER_ADDR).toBe(`${service.metadata!.name}.${service.metadata!.namespace}.svc.cluster.local`);
      expect(env.MASTER_PORT).toBe(String(port.port));
    }
  });

  it('give worker i the DNS name Kubernetes gives pod i of the Indexed Job, and the headless Service\'s port', () => {
    const headless = m.workersService;
    for (let rank = 0; rank < m.job.workers; rank++) {
      const { env, argv } = resolveContainer(onlyContainer(m.workersJob), rank, m.secrets);
      expect(env.JOB_COMPLETION_INDEX).toBe(String(rank));
      // An Indexed Job's pod has host name <job>-<index>; its subdomain names the headless Service.
      const podHost = `${m.workersJob.metadata!.name}-${rank}.${m.workersJob.spec!.template.spec!.subdomain}`;
      expect(flagValue(argv, '--host')).toBe(`${podHost}.${headless.metadata!.namespace}.svc.cluster.local`);
      expect(flagValue(argv, '--bind')).toBe('0.0.0.0');
      expect(Number(flagValue(argv, '--data-port'))).toBe(headless.spec!.ports![0].port);
      expect(argv.some((a) => a.includes('$('))).toBe(false);
    }
  });

  it('run completions = parallelism = WORLD_SIZE = --workers workers, and tell the coordinator the same', () => {
    const spec = m.workersJob.spec!;
    expect(spec.completionMode).toBe('Indexed');
    expect(spec.completions).toBe(m.job.workers);
    expect(spec.parallelism).toBe(m.job.workers);
    expect(spec.backoffLimit).toBeGreaterThan(0);
    expect(spec.template.spec!.restartPolicy).toBe('OnFailure');
    expect(resolveContainer(onlyContainer(m.workersJob), 0, m.secrets).env.WORLD_SIZE).toBe(String(m.job.workers));
    const coordinator = resolveContainer(onlyContainer(m.coordinatorJob), 0, m.secrets);
    expect(coordinator.env.WORLD_SIZE).toBe(String(m.job.workers));
    expect(flagValue(coordinator.argv, '--workers')).toBe(String(m.job.workers));
    expect(m.coordinatorJob.spec).toMatchObject({ completions: 1, parallelism: 1 });
    expect(m.coordinatorJob.spec!.template.spec!.restartPolicy).toBe('OnFailure');
  });

  it('hand every pod the job secret through a secretKeyRef to a key the Secret holds', () => {
    expect(m.secret.stringData).toEqual({ secret: m.job.secret });
    for (const job of [m.coordinatorJob, m.workersJob]) {
      const refs = onlyContainer(job).env!.filter((v) => v.valueFrom?.secretKeyRef);
      expect(refs.map((v) => v.name)).toEqual(['RINGTRAIN_SECRET']);
      for (const ref of refs) expect(m.secrets[ref.valueFrom!.secretKeyRef!.name!]?.[ref.valueFrom!.secretKeyRef!.key]).toBe(m.job.secret);
      expect(resolveContainer(onlyContainer(job), 0, m.secrets).env.RINGTRAIN_SECRET).toBe(m.job.secret);
      expect(resolveContainer(onlyContainer(job), 0, m.secrets).env.RINGTRAIN_JOB_ID).toBe(m.job.name);
    }
  });

  it('never put the secret in a command line or an env literal: it appears once, in the Secret', () => {
    for (const job of [m.coordinatorJob, m.workersJob]) {
      const c = onlyContainer(job);
      const literals = [...(c.command ?? []), ...(c.args ?? []), ...(c.env ?? []).map((v) => v.value ?? '')];
      for (const text of literals) expect(text).not.toContain(m.job.secret);
    }
    expect(m.yaml.split(m.job.secret).length - 1).toBe(1);
  });

  it('mount the run volume in the coordinator at the run directory\'s parent', () => {
    const pod = m.coordinatorJob.spec!.template.spec!;
    const volume = pod.volumes!.find((v) => v.persistentVolumeClaim?.claimName === m.pvc.metadata!.name);
    expect(volume).toBeDefined();
    const mount = onlyContainer(m.coordinatorJob).volumeMounts!.find((v) => v.name === volume!.name);
    const runDir = flagValue(resolveContainer(onlyContainer(m.coordinatorJob), 0, m.secrets).argv, '--run-dir')!;
    expect(mount?.mountPath).toBe(posix.dirname(runDir));
    expect(runDir).toBe(`/runs/${m.job.name}`);
    expect(m.pvc.spec!.accessModes).toEqual(['ReadWriteOnce']);
    expect(m.pvc.spec!.resources!.requests!.storage).toBe(flags.storage ?? '20Gi');
    expect(m.pvc.spec!.storageClassName).toBe(flags.storageClass);
  });

  it('ask for GPUs, the graphics capability and the webgpu backend exactly when --gpus-per-worker > 0', () => {
    const gpus = m.job.gpusPerWorker;
    const c = onlyContainer(m.workersJob);
    const { env, argv } = resolveContainer(c, 0, m.secrets);
    if (gpus > 0) {
      expect(c.resources).toEqual({ requests: { 'nvidia.com/gpu': gpus }, limits: { 'nvidia.com/gpu': gpus } });
      expect(env.NVIDIA_DRIVER_CAPABILITIES).toBe('compute,utility,graphics');
      expect(flagValue(argv, '--backend')).toBe('webgpu');
    } else {
      expect(c.resources).toBeUndefined();
      expect(env.NVIDIA_DRIVER_CAPABILITIES).toBeUndefined();
      expect(argv).not.toContain('--backend');
    }
    expect(JSON.stringify(m.coordinatorJob)).not.toContain('nvidia.com/gpu');
  });

  it('mount the TLS Secret in every pod and point RINGTRAIN_TLS_* into it exactly when --tls-secret is given', () => {
    for (const job of [m.coordinatorJob, m.workersJob]) {
      const pod = job.spec!.template.spec!;
      const c = onlyContainer(job);
      const tls = pod.volumes?.find((v) => v.secret);
      if (flags.tlsSecret) {
        expect(tls?.secret?.secretName).toBe(flags.tlsSecret);
        const mount = c.volumeMounts!.find((v) => v.name === tls!.name)!;
        expect(mount.readOnly).toBe(true);
        const { env } = resolveContainer(c, 0, m.secrets);
        expect(env.RINGTRAIN_TLS_CERT).toBe(`${mount.mountPath}/tls.crt`);
        expect(env.RINGTRAIN_TLS_KEY).toBe(`${mount.mountPath}/tls.key`);
        expect(env.RINGTRAIN_TLS_CA).toBe(`${mount.mountPath}/ca.crt`);
        expect(c.command).toEqual(['sh', '-c', TLS_CA_FALLBACK, 'ringtrain']);
      } else {
        expect(tls).toBeUndefined();
        expect(Object.keys(resolveContainer(c, 0, m.secrets).env).filter((k) => k.startsWith('RINGTRAIN_TLS'))).toEqual([]);
        expect(c.command).toEqual(['ringtrain']);
      }
    }
  });
});

describe('launch k8s manifests', () => {
  it('hand the train flags to the coordinator as typed, $(…) and $$ included', () => {
    const trainFlags = ['--model', 'small,layers=2', '--data', '/runs/data/$(HOME)/a$$b $c', '--steps', '3'];
    const m = launch({}, trainFlags);
    const { argv } = resolveContainer(onlyContainer(m.coordinatorJob), 0, m.secrets);
    expect(argv.slice(-trainFlags.length)).toEqual(trainFlags);
    expect(argv.slice(0, 2)).toEqual(['ringtrain', 'coordinator']);
  });

  it('are told apart by name: two jobs share no object name and no secret', () => {
    const a = launch({ name: 'job-a' });
    const b = launch({ name: 'job-b' });
    const names = (m: ReturnType<typeof launch>) => m.docs.map((d) => `${d.kind}/${d.metadata!.name}`);
    expect(names(a).filter((n) => names(b).includes(n))).toEqual([]);
    expect(a.job.secret).not.toBe(b.job.secret);
  });

  it('the TLS wrapper falls back to the certificate when the Secret has no ca.crt, and passes the arguments through', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-k8s-tls-'));
    try {
      writeFileSync(join(dir, 'ringtrain'), '#!/bin/sh\nprintf "%s|" "$RINGTRAIN_TLS_CA" "$@"\n');
      chmodSync(join(dir, 'ringtrain'), 0o755);
      writeFileSync(join(dir, 'tls.crt'), 'cert');
      const run = () =>
        spawnSync('sh', ['-c', expandKubeletRefs(TLS_CA_FALLBACK, {}), 'ringtrain', 'worker', '--host', 'a b'], {
          encoding: 'utf8',
          env: { PATH: `${dir}:${process.env.PATH}`, RINGTRAIN_TLS_CERT: join(dir, 'tls.crt'), RINGTRAIN_TLS_CA: join(dir, 'ca.crt') },
        }).stdout;
      expect(run()).toBe(`${join(dir, 'tls.crt')}|worker|--host|a b|`);
      writeFileSync(join(dir, 'ca.crt'), 'ca');
      expect(run()).toBe(`${join(dir, 'ca.crt')}|worker|--host|a b|`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the schema check', () => {
  const valid = () => launch();

  it('fails a Job whose completions is not an integer', () => {
    const { workersJob } = valid();
    (workersJob.spec as unknown as Record<string, unknown>).completions = 'two';
    expect(() => validateKubeObject(workersJob)).toThrow(/completions must be integer/);
  });

  it('fails a container without a name, and a Service port that is not a number', () => {
    const { workersJob, coordinatorService } = valid();
    delete (onlyContainer(workersJob) as { name?: string }).name;
    expect(() => validateKubeObject(workersJob)).toThrow(/must have required property name/);
    (coordinatorService.spec!.ports![0] as { port: unknown }).port = '29500/tcp';
    expect(() => validateKubeObject(coordinatorService)).toThrow(/port must be integer/);
  });

  it('fails a Job with an unknown completion mode or restart policy, and a kind it has no schema for', () => {
    const { workersJob } = valid();
    (workersJob.spec as unknown as Record<string, unknown>).completionMode = 'Ordered';
    expect(() => validateKubeObject(workersJob)).toThrow(/completionMode must be equal to one of the allowed values/);
    const { coordinatorJob } = launch();
    (coordinatorJob.spec!.template.spec as unknown as Record<string, unknown>).restartPolicy = 'Sometimes';
    expect(() => validateKubeObject(coordinatorJob)).toThrow(/restartPolicy must be equal to one of the allowed values/);
    expect(() => validateKubeObject({ apiVersion: 'v1', kind: 'Pod' })).toThrow(/no schema/);
  });
});
