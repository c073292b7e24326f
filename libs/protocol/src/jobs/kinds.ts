import { MODEL_FIELDS, OPTIM_FIELDS, TRAIN_STRATEGIES } from '@ringtrain/config';
import { FrameIssue } from '../check';
import { defineJob } from './spec';
import { checkTrace } from './trace';
import { bool, expectShape, int, num, numbers, oneOf, optional, tensor, text, type Parsed } from './schema';

/*
 * Every job a coordinator can send, one schema each. Names: `seqLen` is always the global
 * sequence length S; a shard's length is the length of its `pos` tensor.
 */

const f32 = (dims: number) => tensor('float32', dims);
const i32 = (dims: number) => tensor('int32', dims);
/** Any string, empty included (environment values). */
const anyText = (v: unknown, p: string): string => {
  if (typeof v !== 'string' || v.length > 256) throw new FrameIssue(p, 'a string of at most 256 chars', typeof v);
  return v;
};

// ---- attention (ringtrain check) ----

/** ulyssesDegree: hybrid's U (ranks per group); absent for the other strategies. */
const PROBLEM = {
  strategy: oneOf(TRAIN_STRATEGIES),
  ulyssesDegree: optional(int(1)),
  seqLen: int(1),
  heads: int(1),
  kvHeads: int(1),
  headDim: int(1),
  causal: bool,
  scale: num,
};
/** doc: the document id of each position (document masking); absent: one document. */
const ATTENTION_INPUTS = { pos: i32(1), doc: optional(i32(1)), q: f32(3), k: f32(3), v: f32(3), dout: f32(3) };
const ATTENTION_OUTPUTS = { out: f32(3), dq: f32(3), dk: f32(3), dv: f32(3) };

/** q, dout [Sr, H, D]; k, v [Sr, Hkv, D]; Sr = the shard's length (pos). */
function checkAttentionInputs(params: Parsed<typeof PROBLEM>, t: Partial<Parsed<typeof ATTENTION_INPUTS>>): void {
  if (!t.pos) return;
  const Sr = t.pos.shape[0];
  if (t.doc) expectShape(t.doc, 'tensors.doc', [Sr]);
  expectShape(t.q, 'tensors.q', [Sr, params.heads, params.headDim]);
  expectShape(t.dout, 'tensors.dout', [Sr, params.heads, params.headDim]);
  expectShape(t.k, 'tensors.k', [Sr, params.kvHeads, params.headDim]);
  expectShape(t.v, 'tensors.v', [Sr, params.kvHeads, params.headDim]);
}

function checkAttentionOutputs(t: Parsed<typeof ATTENTION_OUTPUTS>): void {
  expectShape(t.dq, 'tensors.dq', t.out.shape);
  expectShape(t.dv, 'tensors.dv', t.dk.shape);
}

export const ATTENTION_JOB = defineJob({
  params: PROBLEM,
  tensors: ATTENTION_INPUTS,
  meta: { forwardMs: num, backwardMs: num },
  results: ATTENTION_OUTPUTS,
  requestBulk: false,
  resultBulk: false,
  checkRequest: (r) => checkAttentionInputs(r.params, r.tensors),
  checkResult: (r) => checkAttentionOutputs(r.tensors),
});

// ---- training ----

export const TRAIN_INIT_JOB = defineJob({
  params: { model: numbers(MODEL_FIELDS), optim: numbers(OPTIM_FIELDS), seed: int(0), strategy: oneOf(TRAIN_STRATEGIES), ulyssesDegree: optional(int(1)) },
  tensors: {},
  meta: { hash: text(64) },
  results: {},
  requestBulk: false,
  resultBulk: false,
});

/**
 * docs: each token's document (document masking), ropePos: each token's RoPE position (positions
 * restarting at each document); both [B·Sr], absent when unused.
 */
const TOKEN_SHARD = { tokens: i32(1), targets: i32(1), pos: i32(1), prevTokens: optional(i32(1)), docs: optional(i32(1)), ropePos: optional(i32(1)) };
const BATCH_PARAMS = { seqLen: int(1), batch: int(1), globalTokens: int(0) };

/** tokens, targets [B·Sr]; prevTokens [lags·B·Sr] with lags ≥ 1. */
function checkTokenShard(params: Parsed<typeof BATCH_PARAMS>, t: Parsed<typeof TOKEN_SHARD>): void {
  const n = params.batch * t.pos.shape[0];
  if (t.pos.shape[0] > params.seqLen) throw new FrameIssue('tensors.pos', `at most seqLen ${params.seqLen} positions`, `${t.pos.shape[0]}`);
  expectShape(t.tokens, 'tensors.tokens', [n]);
  expectShape(t.targets, 'tensors.targets', [n]);
  if (t.docs) expectShape(t.docs, 'tensors.docs', [n]);
  if (t.ropePos) expectShape(t.ropePos, 'tensors.ropePos', [n]);
  if (t.prevTokens && (t.prevTokens.shape[0] === 0 || t.prevTokens.shape[0] % Math.max(1, n) !== 0)) {
    throw new FrameIssue('tensors.prevTokens', `a multiple of ${n} values`, `${t.prevTokens.shape[0]}`);
  }
}

const STEP_TIMINGS = { computeMs: num, attentionMs: num, commMs: num, allReduceMs: num, optimizerMs: num };

/**
 * A sampled step's timeline (trace.ts): the spans, the worker's clock they are relative to, and
 * when (on the worker's clock) the job arrived and its result left, for clock alignment;
 * traceDropped: spans over MAX_TRACE_SPANS left out.
 */
const TRACE_META = { traceOriginMs: optional(num), recvAtMs: optional(num), sendAtMs: optional(num), traceDropped: optional(int(0)) };
const TRACE_TENSORS = { traceTimes: optional(f32(2)), traceCodes: optional(i32(2)) };

/** maxBlockMs: the longest stretch the worker's event loop was blocked (heartbeats unanswered) during the step. */
const TRAIN_STEP_META = { loss: num, gradNorm: num, lr: num, ...STEP_TIMINGS, rssBytes: int(0), maxBlockMs: num, hash: optional(text(64)), ...TRACE_META };
const TRAIN_STEP_RESULTS = { predictions: optional(i32(1)), ...TRACE_TENSORS };

export const TRAIN_STEP_JOB = defineJob({
  /** `grads`: return the all-reduced gradients as a bulk stream (check --train); `trace`: return the step's timeline. */
  params: { ...BATCH_PARAMS, hashCheck: bool, predictions: bool, grads: bool, trace: bool },
  tensors: TOKEN_SHARD,
  meta: TRAIN_STEP_META,
  results: TRAIN_STEP_RESULTS,
  requestBulk: false,
  resultBulk: true,
  checkRequest: (r) => checkTokenShard(r.params, r.tensors),
  // Annotated: context-typed like checkRequest, it leaves this spec's schema types uninferred (TypeScript falls back to Schema).
  checkResult: (r: { meta: Parsed<typeof TRAIN_STEP_META>; tensors: Parsed<typeof TRAIN_STEP_RESULTS> }) => checkTrace(r),
});

export const EVAL_STEP_JOB = defineJob({
  params: BATCH_PARAMS,
  tensors: TOKEN_SHARD,
  meta: { loss: num },
  results: { predictions: i32(1) },
  requestBulk: false,
  resultBulk: false,
  checkRequest: (r) => checkTokenShard(r.params, r.tensors),
});

/** Names of AdamW's moments in a state stream: the prefix, then the parameter's name. */
export const ADAM_M = 'adam.m.';
export const ADAM_V = 'adam.v.';

/**
 * `get-state`: the replica's parameters (and with `optimizer`, AdamW's moments as
 * `adam.m.<param>`, `adam.v.<param>`), streamed by the ranks with `send`; every rank reports its
 * parameter hash and optimizer step.
 */
export const GET_STATE_JOB = defineJob({
  params: { send: bool, optimizer: bool },
  tensors: {},
  meta: { hash: text(64), optimizerStep: int(0) },
  results: {},
  requestBulk: false,
  resultBulk: true,
});

/** `set-state`: replace the replica's parameters (and optimizer moments and step, when sent). */
export const SET_STATE_JOB = defineJob({
  params: { optimizerStep: optional(int(0)) },
  tensors: {},
  meta: { hash: text(64) },
  results: {},
  requestBulk: true,
  resultBulk: false,
});

// ---- ringtrain bench ----

export const BENCH_RUNS = ['distributed', 'alone', 'all-alone'] as const;
export const BENCH_KERNELS = ['native', 'tfjs'] as const;

const OPTIONAL_ATTENTION_INPUTS = { pos: optional(i32(1)), doc: optional(i32(1)), q: optional(f32(3)), k: optional(f32(3)), v: optional(f32(3)), dout: optional(f32(3)) };

const BENCH_ATTENTION_PARAMS = { ...PROBLEM, kernel: oneOf(BENCH_KERNELS), reps: int(1), warmup: int(0), run: oneOf(BENCH_RUNS) };

export const BENCH_ATTENTION_JOB = defineJob({
  params: BENCH_ATTENTION_PARAMS,
  /** Absent on the idle ranks of an `alone` run. */
  tensors: OPTIONAL_ATTENTION_INPUTS,
  meta: {
    idle: optional(bool),
    kernel: optional(text()),
    matmul: optional(oneOf(BENCH_KERNELS)),
    bytesSentPerRep: optional(int(0)),
    messagesSentPerRep: optional(int(0)),
    blasThreads: optional(anyText),
    shardTokens: optional(int(0)),
  },
  /** [reps, 3]: wall ms, kernel ms, exposed-communication ms per timed rep. */
  results: { timings: optional(f32(2)) },
  requestBulk: false,
  resultBulk: false,
  checkRequest: (r: { params: Parsed<typeof BENCH_ATTENTION_PARAMS>; tensors: Partial<Parsed<typeof ATTENTION_INPUTS>> }) => checkAttentionInputs(r.params, r.tensors),
});

const BENCH_TRANSPORT_PARAMS = { mode: oneOf(['ws', 'tcp', 'tcp-messages'] as const), from: int(0), to: int(0), chunkBytes: int(4), chunks: int(1), reps: int(1), warmup: int(0) };

export const BENCH_TRANSPORT_JOB = defineJob({
  params: BENCH_TRANSPORT_PARAMS,
  tensors: {},
  meta: { idle: optional(bool), receiver: optional(bool), sender: optional(bool), bytesPerRound: optional(int(0)), gcShare: optional(num) },
  results: { ms: optional(f32(1)) },
  requestBulk: false,
  resultBulk: false,
  checkRequest: ({ params }: { params: Parsed<typeof BENCH_TRANSPORT_PARAMS> }) => {
    if (params.from === params.to) throw new FrameIssue('params.to', `a rank other than from (${params.from})`, String(params.to));
    if (params.chunkBytes % 4 !== 0) throw new FrameIssue('params.chunkBytes', 'a multiple of 4', String(params.chunkBytes));
  },
});
