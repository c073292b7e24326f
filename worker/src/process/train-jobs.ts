import { RingtrainError } from '@ringtrain/core';
import { checkModelConfig, MODEL_FIELDS, type ModelConfig, type OptimConfig } from '@ringtrain/config';
import type { WireTensor } from '@ringtrain/transport';
import type { ShardBatch } from '../model/model-step';
import { getStrategy } from '../strategies/registry';
import { TrainSession } from '../train/train-session';
import type { JobEnv, JobOutput } from './attention-job';
import { bool, int, numbers, str, tensor } from './job-params';

/** State a worker keeps between jobs. */
export interface WorkerState {
  train: TrainSession | null;
  strategy: string | null;
}

const OPTIM_KEYS = ['lr', 'minLrRatio', 'warmupSteps', 'totalSteps', 'beta1', 'beta2', 'eps', 'weightDecay', 'gradClip'] as const;

/** `train-init`: build the replica (identical on every rank: same seed). */
export async function trainInitJob(env: JobEnv, _jobId: string, params: Record<string, unknown>): Promise<JobOutput> {
  const model = checkModelConfig(numbers(params, 'model', MODEL_FIELDS) as unknown as ModelConfig);
  const optim = numbers(params, 'optim', OPTIM_KEYS) as unknown as OptimConfig;
  const strategy = getStrategy(str(params, 'strategy'));
  env.state.train = new TrainSession(model, optim, int(params, 'seed'));
  env.state.strategy = strategy.name;
  return { tensors: {}, meta: { hash: env.state.train.paramHash() } };
}

/** `train-step`: forward, backward, all-reduce, AdamW on this rank's shard of the batch. */
export async function trainStepJob(env: JobEnv, _jobId: string, params: Record<string, unknown>, tensors: Record<string, WireTensor>): Promise<JobOutput> {
  const { session, strategy } = sessionOf(env);
  const batch = shardBatch(params, tensors);
  const r = await session.step({ transport: env.transport, kernel: env.kernel, strategy }, batch);
  const meta: JobOutput['meta'] = {
    loss: r.loss, gradNorm: r.gradNorm, lr: r.lr,
    computeMs: r.computeMs, attentionMs: r.attentionMs, commMs: r.commMs, allReduceMs: r.allReduceMs, optimizerMs: r.optimizerMs,
    // Peak resident set of this worker process so far (maxRSS is in KiB).
    rssBytes: process.resourceUsage().maxRSS * 1024,
  };
  if (bool(params, 'hashCheck')) meta.hash = session.paramHash();
  const out: Record<string, WireTensor> = {};
  if (bool(params, 'predictions')) out.predictions = { dtype: 'int32', shape: [r.predictions.length], data: r.predictions };
  // Optional (absent = false): the all-reduced gradients this step applied, as `grad.<param>`.
  if (params.grads !== undefined && bool(params, 'grads')) {
    for (const [name, g] of r.grads) out[`grad.${name}`] = { dtype: 'float32', shape: [g.length], data: g };
  }
  return { tensors: out, meta };
}

/** `eval-step`: forward only; returns the loss share and argmax predictions. */
export async function evalStepJob(env: JobEnv, jobId: string, params: Record<string, unknown>, tensors: Record<string, WireTensor>): Promise<JobOutput> {
  const { session, strategy } = sessionOf(env);
  const r = await session.evaluate({ transport: env.transport, kernel: env.kernel, strategy }, shardBatch(params, tensors), jobId);
  return { tensors: { predictions: { dtype: 'int32', shape: [r.predictions.length], data: r.predictions } }, meta: { loss: r.loss } };
}

function sessionOf(env: JobEnv) {
  if (!env.state.train || !env.state.strategy) {
    throw new RingtrainError('BAD_STATE', 'a training job arrived before train-init', { hint: 'the coordinator sends train-init first' });
  }
  return { session: env.state.train, strategy: getStrategy(env.state.strategy) };
}

function shardBatch(params: Record<string, unknown>, tensors: Record<string, WireTensor>): ShardBatch {
  const batch = int(params, 'batch');
  const pos = tensor(tensors, 'pos', 'int32');
  const n = batch * pos.shape[0];
  return {
    tokens: tensor(tensors, 'tokens', 'int32', [n]).data as Int32Array,
    targets: tensor(tensors, 'targets', 'int32', [n]).data as Int32Array,
    prevTokens: tensors.prevTokens ? (tensor(tensors, 'prevTokens', 'int32').data as Int32Array) : undefined,
    pos: pos.data as Int32Array,
    batch,
    seqLen: int(params, 'seqLen'),
    globalTokens: int(params, 'globalTokens'),
  };
}

/** `get-params`: this replica's parameters (for saving the model and for `check --train`). */
export async function getParamsJob(env: JobEnv): Promise<JobOutput> {
  const { session } = sessionOf(env);
  const tensors: Record<string, WireTensor> = {};
  for (const [name, p] of session.params) tensors[name] = { dtype: 'float32', shape: [p.length], data: p };
  return { tensors, meta: { hash: session.paramHash() } };
}

/** `set-params`: replace the replica's parameters (loading a saved model); every name must match. */
export async function setParamsJob(env: JobEnv, _jobId: string, _params: Record<string, unknown>, tensors: Record<string, WireTensor>): Promise<JobOutput> {
  const { session } = sessionOf(env);
  for (const [name, p] of session.params) {
    const t = tensor(tensors, name, 'float32', [p.length]);
    p.set(t.data as Float32Array);
  }
  const extra = Object.keys(tensors).filter((n) => !session.params.has(n));
  if (extra.length) throw new RingtrainError('BAD_JOB', `set-params got unknown parameters ${extra.join(', ')}`, { hint: 'the saved model was made with another model config' });
  return { tensors: {}, meta: { hash: session.paramHash() } };
}
