/* Test helpers: the Kubernetes API schemas (offline, from kubernetes-models) and the kubelet's $(VAR) expansion. */
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { parseAllDocuments } from 'yaml';

/** The model of each kind the launcher emits, keyed `apiVersion/kind`. */
const MODELS: Record<string, (data: never) => { validate(): void }> = {
  'v1/Secret': (data) => new Secret(data),
  'v1/Service': (data) => new Service(data),
  'v1/PersistentVolumeClaim': (data) => new PersistentVolumeClaim(data),
  'batch/v1/Job': (data) => new Job(data),
};

/**
 * Validates one manifest against the JSON schema of its kind, generated from the Kubernetes
 * OpenAPI spec (types, formats, enums, required fields). Throws with the validator's message.
 */
export function validateKubeObject(doc: unknown): void {
  const { apiVersion, kind } = (doc ?? {}) as { apiVersion?: unknown; kind?: unknown };
  const model = MODELS[`${String(apiVersion)}/${String(kind)}`];
  if (!model) throw new Error(`no schema for apiVersion ${String(apiVersion)} kind ${String(kind)}`);
  model(doc as never).validate();
}

/** A multi-document YAML stream as kubectl reads it; a syntax error fails. */
export function parseYamlStream(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Record<string, unknown>;
  });
}

/**
 * The kubelet's expansion of command, args and env values: `$(NAME)` becomes the variable's
 * value when it is defined (else stays), `$$` becomes `$`, any other `$` stays.
 */
export function expandKubeletRefs(text: string, env: Readonly<Record<string, string>>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') {
      out += '$';
      i++;
    } else if (text[i] === '$' && text[i + 1] === '(' && text.indexOf(')', i + 2) > 0) {
      const end = text.indexOf(')', i + 2);
      const name = text.slice(i + 2, end);
      out += name in env ? env[name] : `$(${name})`;
      i = end;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** What a pod's container sees: its env (in order, each value expanded against the earlier ones), command and args. */
export interface ResolvedContainer {
  env: Record<string, string>;
  argv: string[];
}

/**
 * Resolves a container as the kubelet would for one pod: the completion-index annotation of an
 * Indexed Job's pod is `index`; secretKeyRef values are looked up in `secrets` (name -> data).
 */
export function resolveContainer(container: IContainer, index: number, secrets: Readonly<Record<string, Readonly<Record<string, string>>>>): ResolvedContainer {
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    if (v.value !== undefined) {
      env[v.name] = expandKubeletRefs(v.value, env);
    } else if (v.valueFrom?.fieldRef?.fieldPath === "metadata.annotations['batch.kubernetes.io/job-completion-index']") {
      env[v.name] = String(index);
    } else if (v.valueFrom?.secretKeyRef) {
      const { name, key } = v.valueFrom.secretKeyRef;
      const value = name === undefined ? undefined : secrets[name]?.[key];
      if (value === undefined) throw new Error(`env ${v.name}: Secret ${name} has no key ${key}`);
      env[v.name] = value;
    } else {
      throw new Error(`env ${v.name}: a source these tests do not resolve`);
    }
  }
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) => expandKubeletRefs(a, env));
  return { env, argv };
}

/** The one container of a Job's pod template. */
export function onlyContainer(job: IJob): IContainer {
  const containers = job.spec?.template.spec?.containers ?? [];
  if (containers.length !== 1) throw new Error(`Job ${job.metadata?.name} has ${containers.length} containers`);
  return containers[0];
}

/** The value after `flag` in an argv. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}
