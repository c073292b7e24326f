import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RingtrainError } from '@ringtrain/core';
import { checkModelConfig, type ModelConfig } from '@ringtrain/config';
import { checkDeviceFits, stepTensors } from '../device-limits';
import { TRACE_COLUMNS, wallClockMs, type Bulk, type JobRequest } from '@ringtrain/protocol';
import type { ShardBatch } from '../model/model-step';
import { getStrategy } from '../strategies/registry';
import { TrainSession } from '../train/train-session';
import { withTrace, type TraceDump } from '../trace/tracer';
import type { JobEnv, JobHandler } from './job-env';

/** `train-init`: build the replica (identical on every rank: same seed). */
export const trainInitJob: JobHandler<'train-init'> = async (env, { params }) => {
  const strategy = getStrategy(params.strategy, { ulyssesDegree: params.ulyssesDegree });
  env.state.train = new TrainSession(checkModelConfig(params.model), params.optim, params.seed);
  env.state.strategy = strategy;
  return { meta: { hash: env.state.train.paramHash() }, tensors: {} };
};

/**
 * `train-step`: forward, backward, all-reduce, AdamW on this rank's shard of the batch. With
 * `trace`, the step's spans come back too, with this worker's clock when the job arrived and
 * when its result left: the coordinator aligns the clocks from them (trace-log.ts).
 */
export const trainStepJob: JobHandler<'train-step'> = async (env, request) => {
  const recvAtMs = wallClockMs();
  const { session, strategy } = sessionOf(env);
  const { params } = request;
  const batch = shardBatch(request, session.model);
  // How long the event loop goes without a turn is how long a heartbeat can go unanswered.
  const blocked = monitorEventLoopDelay({ resolution: 10 });
  blocked.enable();
  const { result: r, trace } = await withTrace(params.trace, () => session.step({ transport: env.transport, kernel: env.kernel, strategy }, batch));
  blocked.disable();
  const result = {
    meta: {
      loss: r.loss, gradNorm: r.gradNorm, lr: r.lr,
      computeMs: r.computeMs, attentionMs: r.attentionMs, commMs: r.commMs, allReduceMs: r.allReduceMs, optimizerMs: r.optimizerMs,
      // Peak resident set of this worker process so far (maxRSS is in KiB).
      rssBytes: process.resourceUsage().maxRSS * 1024,
      maxBlockMs: blocked.max / 1e6,
      hash: params.hashCheck ? session.paramHash() : undefined,
    },
    tensors: { predictions: params.predictions ? { dtype: 'int32' as const, shape: [r.predictions.length], data: r.predictions } : undefined },
    // The all-reduced gradients this step applied, with the parameters' shapes (check --train).
    bulk: params.grads ? session.shaped(r.grads) : undefined,
  };
  if (!trace) return result;
  return { ...result, meta: { ...result.meta, ...traceMeta(trace), recvAtMs, sendAtMs: wallClockMs() }, tensors: { ...result.tensors, ...traceTensors(trace) } };
};

function traceMeta(t: TraceDump) {
  return { traceOriginMs: t.originMs, traceDropped: t.dropped > 0 ? t.dropped : undefined };
}

function traceTensors(t: TraceDump) {
  return {
    traceTimes: { dtype: 'float32' as const, shape: [t.count, 2], data: t.times },
    traceCodes: { dtype: 'int32' as const, shape: [t.count, TRACE_COLUMNS.length], data: t.codes },
  };
}

/** `eval-step`: forward only; returns the loss share and argmax predictions. */
export const evalStepJob: JobHandler<'eval-step'> = async (env, request, jobId) => {
  const { session, strategy } = sessionOf(env);
  const r = await session.evaluate({ transport: env.transport, kernel: env.kernel, strategy }, shardBatch(request, session.model), jobId);
  return { meta: { loss: r.loss }, tensors: { predictions: { dtype: 'int32', shape: [r.predictions.length], data: r.predictions } } };
};

/** `get-state`: this replica's parameters (and optimizer moments), streamed by the ranks asked to send. */
export const getStateJob: JobHandler<'get-state'> = async (env, { params }) => {
  const { session } = sessionOf(env);
  let bulk: Bulk | undefined;
  if (params.send) bulk = params.optimizer ? new Map([...session.paramState(), ...session.optimizerState()]) : session.paramState();
  return { meta: { hash: session.paramHash(), optimizerStep: session.optimizer.stepCount }, tensors: {}, bulk };
};

/** `set-state`: replace the replica's parameters (and optimizer state); applied only when all of it checks out. */
export const setStateJob: JobHandler<'set-state'> = async (env, { params, bulk }) => {
  const { session } = sessionOf(env);
  if (!bulk) throw new RingtrainError('BAD_JOB', 'set-state came without its state');
  session.loadState(bulk, params.optimizerStep);
  return { meta: { hash: session.paramHash() }, tensors: {} };
};

function sessionOf(env: JobEnv) {
  if (!env.state.train || !env.state.strategy) {
    throw new RingtrainError('BAD_STATE', 'a training job arrived before train-init', { hint: 'the coordinator sends train-init first' });
  }
  return { session: env.state.train, strategy: env.state.strategy };
}

function shardBatch({ params, tensors }: JobRequest<'train-step'> | JobRequest<'eval-step'>, model: ModelConfig): ShardBatch {
  checkDeviceFits(stepTensors(model, params.batch, tensors.pos.data.length));
  return {
    tokens: tensors.tokens.data,
    targets: tensors.targets.data,
    prevTokens: tensors.prevTokens?.data,
    pos: tensors.pos.data,
    docs: tensors.docs?.data,
    ropePos: tensors.ropePos?.data,
    batch: params.batch,
    seqLen: params.seqLen,
    globalTokens: params.globalTokens,
  };
}
