import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RingtrainError } from '@ringtrain/core';
import { MAX_WORKERS, checkSizeLimits } from './memory-estimate';
import { checkModelConfig, MODEL_FIELDS, MODEL_PRESETS, type ModelConfig, type ModelPresetName } from './model';
import { OPTIM_DEFAULTS, OPTIM_FIELDS, type OptimConfig } from './optim';
import type { LayoutName } from '@ringtrain/layout';
import { checkHybridDegree, checkUlyssesHeads, defaultUlyssesDegree, TRAIN_STRATEGIES, type TrainStrategy } from './strategy';
import { didYouMean } from './suggest';

/**
 * The run config of `ringtrain train`: a JSON/YAML file, overridden by flags, validated once
 * into a frozen TrainConfig. Unknown keys are refused with the nearest valid key.
 */
export const BACKENDS = ['auto', 'webgpu', 'native', 'cpu', 'tensorflow', 'gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const PASSKEY_FILLERS = ['repeat', 'cycle', 'random'] as const;
export type PasskeyFiller = (typeof PASSKEY_FILLERS)[number];
export const PASSKEY_LOSS_ON = ['all', 'answer'] as const;
export type PasskeyLossOn = (typeof PASSKEY_LOSS_ON)[number];
/** Attention within documents only: 'on', 'off', or 'auto' (on for packed file data, off for the built-in tasks). */
export const DOC_MASK_MODES = ['auto', 'on', 'off'] as const;
export type DocMaskMode = (typeof DOC_MASK_MODES)[number];
/** RoPE positions: 'global' (the token's position in the sequence) or 'per-document' (0 at each document's first token). */
export const POSITION_MODES = ['global', 'per-document'] as const;
export type PositionMode = (typeof POSITION_MODES)[number];
/** Data names that are built-in tasks rather than paths (as @ringtrain/data's BUILTIN_SOURCES). */
const BUILTIN_DATA = ['passkey', 'copy'];

export interface TrainConfig {
  readonly runDir: string;
  readonly workers: number;
  readonly strategy: TrainStrategy;
  /** hybrid only (absent otherwise): ranks per Ulysses group U; the ring runs across workers/U groups. */
  readonly ulyssesDegree?: number;
  /** hybrid only (absent otherwise): the layout of the ring across groups. */
  readonly ringLayout?: LayoutName;
  readonly seqLen: number;
  readonly batchSize: number;
  readonly steps: number;
  readonly model: ModelConfig;
  /** 'passkey' or file/folder paths. */
  readonly data: readonly string[];
  readonly passkeyKeyLength: number;
  /** Passkey filler: 'repeat' (random sentences cycled: teaches copying), 'cycle' or 'random'. */
  readonly passkeyFiller: PasskeyFiller;
  /** Which passkey targets carry loss: 'all' (filler too) or 'answer' (the key digits only); a stage may override it. */
  readonly passkeyLossOn: PasskeyLossOn;
  /**
   * Whether attention stays inside each document of a packed row (the batch carries the
   * documents as `Batch.docs`): 'on', 'off', or 'auto' = on for file data, off for passkey/copy
   * (one document per row, where 'on' changes nothing). `stageDocMask` resolves it per stage.
   */
  readonly docMask: DocMaskMode;
  /** RoPE positions: 'global' (position in the sequence) or 'per-document' (restarting at 0 at each document). */
  readonly positions: PositionMode;
  /**
   * File data: the fraction of documents held out for evaluation, by the fixed document-level
   * split of @ringtrain/data (held-out.ts; at least one document when there are two or more);
   * training never reads them. Unused with `valData`, and by passkey/copy data.
   */
  readonly valFraction: number;
  /** File data: held-out files of their own (training then reads all of `data`); null = split `data` by valFraction. */
  readonly valData: readonly string[] | null;
  readonly seed: number;
  readonly backend: BackendName;
  readonly optim: OptimConfig;
  /** Held-out evaluation every N steps (0 = only at the end). */
  readonly evalEvery: number;
  readonly evalSamples: number;
  /**
   * Record every rank's timeline of every N-th step (RUN/trace.jsonl, RUN/trace.json; steps
   * N, 2N, …, not the first); 0: never. Untraced steps pay nothing for it.
   */
  readonly traceEvery: number;
  /** Compare parameter hashes across ranks every N steps. */
  readonly hashCheckEvery: number;
  /** Save a checkpoint every N steps (0: not by steps). A checkpoint is also saved at the end and on a stop signal. */
  readonly checkpointEvery: number;
  /** Save a checkpoint when this many minutes passed since the last one (0: not by time). */
  readonly checkpointEveryMinutes: number;
  /** Committed checkpoints kept; older ones are deleted after each save (0: keep all). */
  readonly keepLast: number;
  /** How often `train` restarts the worker group from the latest checkpoint after a failure. */
  readonly maxRestarts: number;
  /** A worker or coordinator silent this long is declared dead (both planes). */
  readonly heartbeatTimeoutMs: number;
  /** A step (or evaluation, or save) that takes longer on the slowest rank is declared stuck. */
  readonly stepTimeoutMs: number;
  /**
   * Every stage of the run in order: the `seqLenWarmup` stages (shorter sequences first, so a
   * long-range skill is found where it is cheap and its gradient is not spread over thousands of
   * keys), then the main stage (seqLen × batchSize for `steps`). One optimizer schedule spans all.
   */
  readonly stages: readonly TrainStage[];
  /** Optimizer steps over all stages. */
  readonly totalSteps: number;
}

export interface TrainStage {
  readonly seqLen: number;
  readonly batchSize: number;
  readonly steps: number;
  /** What this stage trains on: the run's `data` unless a warmup stage names its own (e.g. `copy`). */
  readonly data: readonly string[];
  /** Passkey loss targets in this stage: the run's `passkeyLossOn` unless the stage names its own. */
  readonly passkeyLossOn: PasskeyLossOn;
}

/** What a config file or the flags may say (all optional; defaults fill the rest). */
export interface TrainInput {
  runDir?: string;
  workers?: number;
  strategy?: string;
  ulyssesDegree?: number;
  ringLayout?: string;
  seqLen?: number;
  batchSize?: number;
  steps?: number;
  model?: string | Record<string, unknown>;
  data?: string | string[];
  passkeyKeyLength?: number;
  passkeyFiller?: string;
  passkeyLossOn?: string;
  docMask?: string;
  positions?: string;
  valFraction?: number;
  valData?: string | string[] | null;
  seed?: number;
  backend?: string;
  lr?: number;
  optim?: Record<string, unknown>;
  evalEvery?: number;
  evalSamples?: number;
  traceEvery?: number;
  hashCheckEvery?: number;
  checkpointEvery?: number;
  checkpointEveryMinutes?: number;
  keepLast?: number;
  maxRestarts?: number;
  heartbeatTimeoutMs?: number;
  stepTimeoutMs?: number;
  seqLenWarmup?: Array<Record<string, unknown>>;
}

const TOP_KEYS = ['runDir', 'workers', 'strategy', 'ulyssesDegree', 'ringLayout', 'seqLen', 'batchSize', 'steps', 'model', 'data', 'passkeyKeyLength', 'passkeyFiller', 'passkeyLossOn', 'docMask', 'positions', 'valFraction', 'valData', 'seed', 'backend', 'lr', 'optim', 'evalEvery', 'evalSamples', 'traceEvery', 'hashCheckEvery', 'checkpointEvery', 'checkpointEveryMinutes', 'keepLast', 'maxRestarts', 'heartbeatTimeoutMs', 'stepTimeoutMs', 'seqLenWarmup'];
const STAGE_KEYS = ['seqLen', 'batchSize', 'steps', 'data', 'passkeyLossOn'];
const MODEL_KEYS = ['preset', ...MODEL_FIELDS];
/** What a config may set of the optimizer: every field but totalSteps, which the stages decide. */
const OPTIM_KEYS = OPTIM_FIELDS.filter((k) => k !== 'totalSteps');

export const TRAIN_DEFAULTS = Object.freeze({
  workers: 2,
  strategy: 'striped' as TrainStrategy,
  seqLen: 1024,
  batchSize: 1,
  steps: 100,
  model: 'tiny',
  data: 'passkey',
  passkeyKeyLength: 5,
  passkeyFiller: 'repeat' as PasskeyFiller,
  passkeyLossOn: 'all' as PasskeyLossOn,
  docMask: 'auto' as DocMaskMode,
  positions: 'global' as PositionMode,
  valFraction: 0.01,
  valData: null,
  seed: 1,
  backend: 'auto' as BackendName,
  evalEvery: 0,
  evalSamples: 16,
  traceEvery: 10,
  hashCheckEvery: 25,
  checkpointEvery: 0,
  checkpointEveryMinutes: 30,
  keepLast: 3,
  maxRestarts: 0,
  // Workers answer heartbeats between synchronous stretches; `maxBlockMs` in metrics.jsonl shows
  // the longest (0.45–0.64 s for the small model at 8192 tokens on 2 cores: benchmarks/NOTES.md).
  heartbeatTimeoutMs: 30_000,
  stepTimeoutMs: 1_800_000,
});

export function loadConfigFile(path: string): TrainInput {
  if (!existsSync(path)) {
    throw new RingtrainError('CONFIG_NOT_FOUND', `config file ${path} does not exist`, { hint: 'pass --config with the path of a .json or .yaml file' });
  }
  const text = readConfigText(path);
  const ext = extname(path).toLowerCase();
  let value: unknown;
  try {
    value = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new RingtrainError('CONFIG_PARSE', `config file ${path} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`, {
      hint: 'fix the syntax; .json files are JSON, .yaml/.yml files are YAML',
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RingtrainError('CONFIG_PARSE', `config file ${path} must hold an object of settings`, { hint: `e.g. {"steps": 200, "model": "small"}` });
  }
  return value as TrainInput;
}

/** The file's text; a directory, or a file this user may not read, is a coded error naming the path. */
function readConfigText(path: string): string {
  try {
    if (statSync(path).isDirectory()) {
      throw new RingtrainError('CONFIG_UNREADABLE', `config file ${path} is a directory`, { hint: 'pass --config with the path of a .json or .yaml file', details: { path } });
    }
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof RingtrainError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new RingtrainError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${err.message}`, {
      hint: err.code === 'EACCES' ? 'the file is not readable by this user: fix its permissions or pass another file' : 'pass --config with the path of a readable .json or .yaml file',
      details: { path, code: err.code },
    });
  }
}

/**
 * A run's config.json (a resolved TrainConfig, as `train` writes it), checked by the same
 * validator as `train`'s input: the file is turned back into input (the warmup stages, the
 * optimizer without its derived totalSteps) and resolved again. A missing, unreadable or
 * inconsistent file is a coded error naming the problem.
 */
export function loadResolvedConfig(path: string, flags: TrainInput = {}): TrainConfig {
  return parseResolvedConfig(loadConfigFile(path), path, flags);
}

/**
 * A resolved TrainConfig as JSON (from a file, or handed over by `train`), checked as
 * loadResolvedConfig does; `flags` override it as they override a config file (`resume
 * --workers 3`).
 */
export function parseResolvedConfig(value: unknown, path: string, flags: TrainInput = {}): TrainConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RingtrainError('BAD_CONFIG', `${path} must hold an object of settings`, { hint: 'pass the config.json of a run directory' });
  }
  const { stages, totalSteps, optim, ...all } = value as Record<string, unknown>; // a JSON object, checked just above
  // A hybrid run resumed as another strategy leaves hybrid's own keys behind.
  const rest = flags.strategy !== undefined && flags.strategy !== 'hybrid' ? Object.fromEntries(Object.entries(all).filter(([k]) => k !== 'ulyssesDegree' && k !== 'ringLayout')) : all;
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new RingtrainError('BAD_CONFIG', `${path} has no "stages": it is not a config.json written by \`ringtrain train\``, { hint: 'pass the config.json of a run directory, or start the run with `ringtrain train --config FILE`' });
  }
  const optimIn = optim !== null && typeof optim === 'object' && !Array.isArray(optim) ? Object.fromEntries(Object.entries(optim).filter(([k]) => k !== 'totalSteps')) : optim;
  let cfg: TrainConfig;
  try {
    cfg = resolveTrainConfig({ ...rest, optim: optimIn as Record<string, unknown>, seqLenWarmup: stages.slice(0, -1) as Array<Record<string, unknown>> } as TrainInput, flags, String(rest.runDir ?? ''));
  } catch (e) {
    if (e instanceof RingtrainError) throw new RingtrainError(e.code, `${path}: ${e.message}`, { hint: e.hint, details: e.details });
    throw e;
  }
  if (totalSteps !== undefined && totalSteps !== cfg.totalSteps && flags.steps === undefined) {
    throw new RingtrainError('BAD_CONFIG', `${path}: totalSteps ${JSON.stringify(totalSteps)} disagrees with its stages (${cfg.totalSteps} steps)`, { hint: 'the file was edited by hand; start the run again with `ringtrain train`' });
  }
  if (!cfg.runDir) throw new RingtrainError('BAD_CONFIG', `${path} names no runDir`, { hint: 'pass the config.json of a run directory' });
  return cfg;
}

/** File settings, then flags on top, then defaults; validated and frozen. */
export function resolveTrainConfig(file: TrainInput, flags: TrainInput, runDirDefault: string): TrainConfig {
  checkKeys('config', file as Record<string, unknown>, TOP_KEYS);
  const merged: TrainInput = { ...file, ...dropUndefined(flags) };
  const workers = int('workers', merged.workers ?? TRAIN_DEFAULTS.workers, 1);
  if (workers > MAX_WORKERS) {
    throw new RingtrainError('BAD_CONFIG', `workers ${workers} is more than ${MAX_WORKERS}, the most ringtrain runs (every worker is a process holding a whole replica of the model and its optimizer state)`, {
      hint: `use at most ${MAX_WORKERS} workers; on one machine, the memory estimate names how many fit`,
      details: { key: 'workers', value: workers, max: MAX_WORKERS },
    });
  }
  const seqLen = int('seqLen', merged.seqLen ?? TRAIN_DEFAULTS.seqLen, 1);
  const batchSize = int('batchSize', merged.batchSize ?? TRAIN_DEFAULTS.batchSize, 1);
  const steps = int('steps', merged.steps ?? TRAIN_DEFAULTS.steps, 1);
  const seed = int('seed', merged.seed ?? TRAIN_DEFAULTS.seed, 0);
  const strategy = oneOf('strategy', merged.strategy ?? TRAIN_DEFAULTS.strategy, TRAIN_STRATEGIES);
  const model = resolveModel(merged.model ?? TRAIN_DEFAULTS.model);
  const hybrid = hybridKeys(merged, strategy, model.heads, workers);
  const backend = oneOf('backend', merged.backend ?? TRAIN_DEFAULTS.backend, BACKENDS);
  const data = dataSpec('data', merged.data ?? TRAIN_DEFAULTS.data);
  const passkeyLossOn = oneOf('passkeyLossOn', merged.passkeyLossOn ?? TRAIN_DEFAULTS.passkeyLossOn, PASSKEY_LOSS_ON);
  const valFraction = fraction('valFraction', merged.valFraction ?? TRAIN_DEFAULTS.valFraction);
  const valData = resolveValData(merged.valData ?? TRAIN_DEFAULTS.valData, data);
  const stages = Object.freeze([...resolveWarmupStages(merged.seqLenWarmup, data, passkeyLossOn), Object.freeze({ seqLen, batchSize, steps, data, passkeyLossOn })]);
  const totalSteps = stages.reduce((a, s) => a + s.steps, 0);
  const optimIn = (merged.optim ?? {}) as Record<string, unknown>;
  checkKeys('optim', optimIn, OPTIM_KEYS);
  const optim: OptimConfig = Object.freeze({
    ...OPTIM_DEFAULTS,
    warmupSteps: Math.min(OPTIM_DEFAULTS.warmupSteps, Math.max(0, Math.floor(totalSteps / 10))),
    ...(optimIn as Partial<OptimConfig>),
    ...(merged.lr !== undefined ? { lr: num('lr', merged.lr) } : {}),
    totalSteps,
  });
  for (const k of OPTIM_KEYS) num(`optim.${k}`, (optim as unknown as Record<string, unknown>)[k]);
  if (!(optim.lr > 0)) throw new RingtrainError('BAD_CONFIG', `lr ${optim.lr} must be positive`, { hint: 'use e.g. --lr 3e-3' });

  for (const [i, stage] of stages.entries()) {
    const where = i === stages.length - 1 ? 'seqLen' : `seqLenWarmup[${i}].seqLen`;
    if (stage.seqLen < workers) {
      throw new RingtrainError('SEQ_TOO_SHORT', `${where} ${stage.seqLen} is shorter than workers ${workers}: some worker would own no token`, { hint: `use a sequence length of ${workers} or more, or fewer --workers` });
    }
    // Training folds the batch into the heads, so each sequence's heads are split with the others';
    // with document masking a batch attends sequence by sequence, so one sequence's heads must split.
    const b = stageDocMask({ docMask: oneOf('docMask', merged.docMask ?? TRAIN_DEFAULTS.docMask, DOC_MASK_MODES) }, stage) ? 1 : stage.batchSize;
    const heads = b === 1 ? `model heads ${model.heads}` : `model heads ${model.heads} × batch ${b}`;
    if (strategy === 'ulysses') {
      checkUlyssesHeads(model.heads * b, model.kvHeads * b, workers, { heads, kvHeads: b === 1 ? `kv heads ${model.kvHeads}` : `kv heads ${model.kvHeads} × batch ${b}`, workers: `${workers} workers` });
    }
    if (hybrid.ulyssesDegree !== undefined) {
      checkHybridDegree(hybrid.ulyssesDegree, model.heads * b, workers, { degree: `ulyssesDegree ${hybrid.ulyssesDegree}`, heads, workers: `workers ${workers}` });
    }
  }
  const cfg: TrainConfig = Object.freeze({
    runDir: merged.runDir === undefined ? runDirDefault : runDirPath(merged.runDir),
    workers,
    strategy,
    ...hybrid,
    seqLen,
    batchSize,
    steps,
    model,
    data,
    passkeyKeyLength: int('passkeyKeyLength', merged.passkeyKeyLength ?? TRAIN_DEFAULTS.passkeyKeyLength, 2),
    passkeyFiller: oneOf('passkeyFiller', merged.passkeyFiller ?? TRAIN_DEFAULTS.passkeyFiller, PASSKEY_FILLERS),
    passkeyLossOn,
    docMask: oneOf('docMask', merged.docMask ?? TRAIN_DEFAULTS.docMask, DOC_MASK_MODES),
    positions: oneOf('positions', merged.positions ?? TRAIN_DEFAULTS.positions, POSITION_MODES),
    valFraction,
    valData,
    seed,
    backend,
    optim,
    evalEvery: int('evalEvery', merged.evalEvery ?? TRAIN_DEFAULTS.evalEvery, 0),
    evalSamples: int('evalSamples', merged.evalSamples ?? TRAIN_DEFAULTS.evalSamples, 1),
    traceEvery: int('traceEvery', merged.traceEvery ?? TRAIN_DEFAULTS.traceEvery, 0),
    hashCheckEvery: int('hashCheckEvery', merged.hashCheckEvery ?? TRAIN_DEFAULTS.hashCheckEvery, 1),
    checkpointEvery: int('checkpointEvery', merged.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery, 0),
    checkpointEveryMinutes: nonNegative('checkpointEveryMinutes', merged.checkpointEveryMinutes ?? TRAIN_DEFAULTS.checkpointEveryMinutes),
    keepLast: int('keepLast', merged.keepLast ?? TRAIN_DEFAULTS.keepLast, 0),
    maxRestarts: int('maxRestarts', merged.maxRestarts ?? TRAIN_DEFAULTS.maxRestarts, 0),
    heartbeatTimeoutMs: int('heartbeatTimeoutMs', merged.heartbeatTimeoutMs ?? TRAIN_DEFAULTS.heartbeatTimeoutMs, 100),
    stepTimeoutMs: int('stepTimeoutMs', merged.stepTimeoutMs ?? TRAIN_DEFAULTS.stepTimeoutMs, 1),
    stages,
    totalSteps,
  });
  checkSizeLimits(cfg);
  return cfg;
}

/** `ringLayout`: the ring family's layouts (ring = contiguous). */
const RING_LAYOUTS: Readonly<Record<string, LayoutName>> = { ring: 'contiguous', contiguous: 'contiguous', striped: 'striped', zigzag: 'zigzag' };

/**
 * hybrid's `ulyssesDegree` (default: the largest divisor of the workers and the model's heads
 * below the workers) and `ringLayout` (default contiguous); refused for the other strategies,
 * which have neither. Checked against each stage's heads by the caller.
 */
function hybridKeys(merged: TrainInput, strategy: TrainStrategy, heads: number, workers: number): { ulyssesDegree?: number; ringLayout?: LayoutName } {
  if (strategy !== 'hybrid') {
    for (const key of ['ulyssesDegree', 'ringLayout'] as const) {
      if (merged[key] !== undefined) {
        throw new RingtrainError('BAD_CONFIG', `${key} ${JSON.stringify(merged[key])} only applies to strategy hybrid, and strategy is ${strategy}`, {
          hint: `set strategy to hybrid (--strategy hybrid), or drop ${key}`,
          details: { key, value: merged[key] },
        });
      }
    }
    return {};
  }
  const ulyssesDegree = merged.ulyssesDegree === undefined ? defaultUlyssesDegree(heads, workers) : int('ulyssesDegree', merged.ulyssesDegree, 0) // 0 is refused by checkHybridDegree, naming the degrees that work;
  const layoutName = oneOf('ringLayout', merged.ringLayout ?? 'contiguous', Object.keys(RING_LAYOUTS));
  return { ulyssesDegree, ringLayout: RING_LAYOUTS[layoutName] };
}

/**
 * The kernel's file systems: nothing a run writes belongs there, and calls on them misbehave
 * (Node's recursive mkdir under /proc never returns). /dev is not among them: /dev/shm is a real
 * (memory) file system.
 */
const KERNEL_FS_ROOTS = ['/proc', '/sys'];

/** The kernel file system a path lies on (/proc, /sys), by its name alone; undefined for any other. */
export function kernelFsRoot(path: string): string | undefined {
  const full = resolvePath(path);
  return KERNEL_FS_ROOTS.find((r) => full === r || full.startsWith(`${r}/`));
}

/**
 * `runDir` from a file or a flag: a path, never a number or an empty string, and not on the
 * kernel's /proc or /sys (where Node's `mkdir -p` never returns); the run directory lock
 * (coordinator run-dir.ts) checks the file system itself.
 */
function runDirPath(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') {
    throw new RingtrainError('BAD_CONFIG', `runDir ${JSON.stringify(v)} must be a string path`, { hint: 'set runDir to a directory such as "runs/passkey" (quoted in YAML), or pass --run-dir DIR', details: { key: 'runDir', value: v } });
  }
  const root = kernelFsRoot(v);
  if (root !== undefined) {
    throw new RingtrainError('RUN_DIR_UNUSABLE', `run directory ${v} is under ${root}, a file system of the kernel, not a disk`, { hint: 'pass --run-dir with a directory on a disk, e.g. runs/my-run', details: { path: v, code: 'VIRTUAL_FS' } });
  }
  return v;
}

/** `passkey`, `copy`, a path, a comma list or a list of paths -> frozen list. */
function dataSpec(name: string, raw: unknown): readonly string[] {
  const data = (Array.isArray(raw) ? raw : String(raw).split(',')).map((s) => String(s).trim()).filter(Boolean);
  if (data.length === 0) throw new RingtrainError('BAD_CONFIG', `${name} is empty`, { hint: 'use passkey, copy, or the path of text/JSONL/.bin files' });
  return Object.freeze(data);
}

/** `valData`: null, or held-out files for file data (never a built-in task: those hold out samples of their own). */
function resolveValData(raw: unknown, data: readonly string[]): readonly string[] | null {
  if (raw === null) return null;
  const valData = dataSpec('valData', raw);
  const builtin = valData.find((p) => BUILTIN_DATA.includes(p));
  if (builtin !== undefined) {
    throw new RingtrainError('BAD_CONFIG', `valData "${builtin}" is a built-in task, not held-out files`, { hint: 'set valData to text, .jsonl or .bin files or folders (write ./' + builtin + ' for a file of that name)' });
  }
  if (isBuiltinData(data)) {
    throw new RingtrainError('BAD_CONFIG', `valData is for file data, but data is the built-in "${data[0]}" task, which holds out samples of its own`, { hint: 'drop valData (--val-data), or train on files' });
  }
  return valData;
}

function isBuiltinData(data: readonly string[]): boolean {
  return data.length === 1 && BUILTIN_DATA.includes(data[0]);
}

/**
 * Whether a stage's batches are masked to their documents: `docMask` 'on' or 'off' as said;
 * 'auto' is on for packed file data and off for the built-in passkey and copy tasks.
 */
export function stageDocMask(cfg: Pick<TrainConfig, 'docMask'>, stage: Pick<TrainStage, 'data'>): boolean {
  return cfg.docMask === 'auto' ? !isBuiltinData(stage.data) : cfg.docMask === 'on';
}

/**
 * `seqLenWarmup`: [{"seqLen": 128, "batchSize": 16, "steps": 300, "data": "copy"}, …]
 * (batchSize defaults to 1, data to the run's data).
 */
function resolveWarmupStages(raw: unknown, runData: readonly string[], runLossOn: PasskeyLossOn): TrainStage[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    throw new RingtrainError('BAD_CONFIG', 'seqLenWarmup must be a list of stages', { hint: 'e.g. "seqLenWarmup": [{"seqLen": 128, "batchSize": 16, "steps": 300}]' });
  }
  return raw.map((stage: unknown, i) => {
    if (stage === null || typeof stage !== 'object' || Array.isArray(stage)) {
      throw new RingtrainError('BAD_CONFIG', `seqLenWarmup[${i}] must be an object`, { hint: 'e.g. {"seqLen": 128, "batchSize": 16, "steps": 300}' });
    }
    const o = stage as Record<string, unknown>;
    checkKeys(`seqLenWarmup[${i}]`, o, STAGE_KEYS);
    return Object.freeze({
      seqLen: int(`seqLenWarmup[${i}].seqLen`, o.seqLen, 1),
      batchSize: int(`seqLenWarmup[${i}].batchSize`, o.batchSize ?? 1, 1),
      steps: int(`seqLenWarmup[${i}].steps`, o.steps, 1),
      data: o.data === undefined ? runData : dataSpec(`seqLenWarmup[${i}].data`, o.data),
      passkeyLossOn: o.passkeyLossOn === undefined ? runLossOn : oneOf(`seqLenWarmup[${i}].passkeyLossOn`, o.passkeyLossOn, PASSKEY_LOSS_ON),
    });
  });
}

/** The passkey task options of one stage (what `openDataset` takes as `passkey`). */
export function stagePasskeyOptions(cfg: TrainConfig, stage: TrainStage): { keyLength: number; filler: PasskeyFiller; lossOn: PasskeyLossOn } {
  return { keyLength: cfg.passkeyKeyLength, filler: cfg.passkeyFiller, lossOn: stage.passkeyLossOn };
}

/**
 * `--model small`, `--model tiny,layers=3`, `--model dModel=128,layers=2,heads=4,headDim=32`,
 * or in a file `{"preset": "small", "layers": 2}`.
 */
export function resolveModel(spec: string | Record<string, unknown>, vocabSize = 258): ModelConfig {
  let obj: Record<string, unknown>;
  if (typeof spec === 'string') {
    obj = {};
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq < 0) obj.preset = part;
      else obj[part.slice(0, eq).trim()] = Number(part.slice(eq + 1));
    }
  } else {
    obj = { ...spec };
  }
  checkKeys('model', obj, MODEL_KEYS);
  const presetName = (obj.preset ?? (obj.dModel === undefined ? 'tiny' : undefined)) as string | undefined;
  let base: Partial<ModelConfig> = { ...MODEL_PRESETS.tiny };
  if (presetName !== undefined) {
    const presets = Object.keys(MODEL_PRESETS);
    if (!presets.includes(presetName)) {
      throw new RingtrainError('BAD_CONFIG', `unknown model preset "${presetName}"${didYouMean(presetName, presets)}`, {
        hint: `use one of ${presets.join(', ')}, or explicit dims like --model dModel=128,layers=2,heads=4,headDim=32`,
      });
    }
    base = { ...MODEL_PRESETS[presetName as ModelPresetName] };
  }
  const dims = Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'preset'));
  for (const [k, v] of Object.entries(dims)) num(`model.${k}`, v);
  return checkModelConfig({ vocabSize, ...base, ...(dims as Partial<ModelConfig>) } as ModelConfig);
}

function checkKeys(where: string, obj: Record<string, unknown>, valid: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!valid.includes(key)) {
      throw new RingtrainError('UNKNOWN_CONFIG_KEY', `unknown ${where} key "${key}"${didYouMean(key, valid)}`, {
        hint: `valid ${where} keys: ${valid.join(', ')}`,
        details: { where, key },
      });
    }
  }
}

function num(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new RingtrainError('BAD_CONFIG', `${name} ${JSON.stringify(v)} must be a number`, { hint: `set ${name} to a number` });
  }
  return v;
}

function fraction(name: string, v: unknown): number {
  const n = num(name, v);
  if (!(n > 0 && n < 1)) {
    throw new RingtrainError('BAD_CONFIG', `${name} ${n} must be greater than 0 and less than 1`, { hint: `set ${name} to a fraction such as 0.01, or name held-out files with valData` });
  }
  return n;
}

function nonNegative(name: string, v: unknown): number {
  const n = num(name, v);
  if (n < 0) throw new RingtrainError('BAD_CONFIG', `${name} ${n} must not be negative`, { hint: `set ${name} to 0 (off) or more` });
  return n;
}

function int(name: string, v: unknown, min: number): number {
  const n = num(name, v);
  if (Number.isInteger(n) && n > Number.MAX_SAFE_INTEGER) {
    throw new RingtrainError('BAD_CONFIG', `${name} ${n} is beyond the largest exact integer (${Number.MAX_SAFE_INTEGER})`, { hint: `set ${name} to a reasonable value` });
  }
  if (!Number.isInteger(n) || n < min) {
    throw new RingtrainError('BAD_CONFIG', `${name} ${n} must be an integer of at least ${min}`, { hint: `set ${name} to ${min} or more` });
  }
  return n;
}

function oneOf<T extends string>(name: string, v: unknown, options: readonly T[]): T {
  if (typeof v !== 'string' || !options.includes(v as T)) {
    throw new RingtrainError('BAD_CONFIG', `${name} ${JSON.stringify(v)} is not one of ${options.join(', ')}${typeof v === 'string' ? didYouMean(v, options) : ''}`, {
      hint: `set ${name} to one of ${options.join(', ')}`,
    });
  }
  return v as T;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
