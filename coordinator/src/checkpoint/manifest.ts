import { RingtrainError } from '@ringtrain/core';
import { MODEL_FIELDS, OPTIM_FIELDS, TRAIN_STRATEGIES, type ModelConfig, type OptimConfig, type TrainStrategy } from '@ringtrain/config';
import { parseDataCursor, type DataCursor } from '@ringtrain/data';
import { LAYOUT_NAMES, type LayoutName } from '@ringtrain/layout';

/** `format` of the manifests this version writes and reads. */
export const CHECKPOINT_FORMAT = 'ringtrain.checkpoint/1';
export const MANIFEST_FILE = 'manifest.json';
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'F32';
  file: string;
}

/** What training had reached when the checkpoint was taken (restored as the run's counters). */
export interface MetricsSoFar {
  firstLoss: number;
  lastLoss: number;
  peakRssBytes: number;
  /** Training time before this checkpoint, over all earlier sessions of the run. */
  trainSec: number;
}

/**
 * manifest.json: everything a resume needs besides the tensors (docs/checkpoints.md). `step` is
 * the number of optimizer steps done; the run goes on with step `step` (0-based) in stage
 * `stage`, which has done `stageStep` of its steps.
 */
export interface CheckpointManifest {
  format: string;
  step: number;
  stage: number;
  stageStep: number;
  totalSteps: number;
  createdAt: string;
  worldSize: number;
  strategy: TrainStrategy;
  /** hybrid only: ranks per Ulysses group (`layout` is then its ring's layout across the groups). */
  ulyssesDegree?: number;
  layout: LayoutName;
  model: ModelConfig;
  optim: OptimConfig;
  /** AdamW's step count (the lr schedule's position and its bias corrections). */
  optimizerStep: number;
  /** sha256 over the parameters in order, as the workers report it. */
  paramHash: string;
  files: Record<string, FileEntry>;
  tensors: TensorEntry[];
  /** Each stage's data stream position, in stage order. */
  data: DataCursor[];
  /** Seeds everything random in a run derives from (weights, data order, held-out data). */
  rng: { seed: number };
  metrics: MetricsSoFar;
}

/** A manifest read back from JSON, checked field by field (never cast); `where` names the file in errors. */
export function parseManifest(value: unknown, where: string): CheckpointManifest {
  const bad = (problem: string, hint = 'the checkpoint is damaged or was not written by ringtrain; use another one') =>
    new RingtrainError('BAD_CHECKPOINT', `${where}: ${problem}`, { hint, details: { file: where } });
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${path} must be an object`);
    return v as Record<string, unknown>; // a plain JSON object, checked just above
  };
  const m = obj(value, 'the manifest');
  if (m.format !== CHECKPOINT_FORMAT) {
    throw bad(`format ${JSON.stringify(m.format)} is not ${CHECKPOINT_FORMAT}`, 'this ringtrain reads checkpoints of its own format version; use the ringtrain that wrote it');
  }
  const int = (v: unknown, path: string, min = 0) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${path} must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (v: unknown, path: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${path} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  const str = (v: unknown, path: string) => {
    if (typeof v !== 'string' || v.length === 0) throw bad(`${path} must be a non-empty string`);
    return v;
  };
  const oneOf = <T extends string>(v: unknown, path: string, options: readonly T[]): T => {
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) throw bad(`${path} must be one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T; // checked against the options just above
  };
  const numbers = <K extends string>(v: unknown, path: string, keys: readonly K[]): Record<K, number> => {
    const o = obj(v, path);
    const out = {} as Record<K, number>; // every key is filled below
    for (const k of keys) out[k] = num(o[k], `${path}.${k}`);
    return out;
  };
  const files: Record<string, FileEntry> = {};
  for (const [name, e] of Object.entries(obj(m.files, 'files'))) {
    const f = obj(e, `files.${name}`);
    if (!/^[\w.-]+$/.test(name) || name === '.' || name === '..') throw bad(`file name ${JSON.stringify(name)} is not a plain file name`);
    const sha256 = str(f.sha256, `files.${name}.sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw bad(`files.${name}.sha256 is not a sha256`);
    files[name] = { bytes: int(f.bytes, `files.${name}.bytes`), sha256 };
  }
  if (!Array.isArray(m.tensors)) throw bad('tensors must be a list');
  const tensors = m.tensors.map((t, i): TensorEntry => {
    const e = obj(t, `tensors[${i}]`);
    if (!Array.isArray(e.shape)) throw bad(`tensors[${i}].shape must be a list`);
    const file = str(e.file, `tensors[${i}].file`);
    if (!files[file]) throw bad(`tensors[${i}] names file ${file}, which the manifest does not list`);
    return { name: str(e.name, `tensors[${i}].name`), shape: e.shape.map((d, k) => int(d, `tensors[${i}].shape[${k}]`)), dtype: oneOf(e.dtype, `tensors[${i}].dtype`, ['F32'] as const), file };
  });
  if (!Array.isArray(m.data)) throw bad('data must be a list of stage cursors');
  const metrics = obj(m.metrics, 'metrics');
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    step: int(m.step, 'step'),
    stage: int(m.stage, 'stage'),
    stageStep: int(m.stageStep, 'stageStep'),
    totalSteps: int(m.totalSteps, 'totalSteps', 1),
    createdAt: str(m.createdAt, 'createdAt'),
    worldSize: int(m.worldSize, 'worldSize', 1),
    strategy: oneOf(m.strategy, 'strategy', TRAIN_STRATEGIES),
    ...(m.ulyssesDegree !== undefined ? { ulyssesDegree: int(m.ulyssesDegree, 'ulyssesDegree', 1) } : {}),
    layout: oneOf(m.layout, 'layout', LAYOUT_NAMES),
    model: numbers(m.model, 'model', MODEL_FIELDS),
    optim: numbers(m.optim, 'optim', OPTIM_FIELDS),
    optimizerStep: int(m.optimizerStep, 'optimizerStep'),
    paramHash: str(m.paramHash, 'paramHash'),
    files,
    tensors,
    data: m.data.map((c) => parseDataCursor(c)),
    rng: { seed: int(obj(m.rng, 'rng').seed, 'rng.seed') },
    metrics: {
      firstLoss: num(metrics.firstLoss, 'metrics.firstLoss'),
      lastLoss: num(metrics.lastLoss, 'metrics.lastLoss'),
      peakRssBytes: int(metrics.peakRssBytes, 'metrics.peakRssBytes'),
      trainSec: num(metrics.trainSec, 'metrics.trainSec'),
    },
  };
  if (manifest.data.length === 0) throw bad('data has no stage cursor');
  if (manifest.stage >= manifest.data.length) throw bad(`stage ${manifest.stage} is past the ${manifest.data.length} stages`);
  return manifest;
}

/** Refuses a checkpoint of another model, naming every field that differs. */
export function checkSameModel(manifest: CheckpointManifest, model: ModelConfig, dir: string): void {
  const differ = MODEL_FIELDS.filter((k) => manifest.model[k] !== model[k]);
  if (differ.length) {
    throw new RingtrainError('CHECKPOINT_MISMATCH', `${dir} holds another model: ${differ.map((k) => `${k} ${manifest.model[k]} in the checkpoint, ${model[k]} requested`).join('; ')}`, {
      hint: 'resume with the model the checkpoint was trained with (its config.json), or start a new run directory',
    });
  }
}

/** `step-000120`: the directory of the checkpoint after 120 steps (sorts by step up to a million). */
export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** The step of a committed checkpoint directory name, or null for anything else. */
export function stepOfDirName(name: string): number | null {
  const m = /^step-(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}
