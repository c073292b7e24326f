import { RingtrainError } from '@ringtrain/core';
import type { Bulk } from '../bulk';
import { FrameIssue } from '../check';
import type { JsonObject, Meta } from '../messages';
import type { WireTensor } from '../tensor';
import {
  ATTENTION_JOB,
  BENCH_ATTENTION_JOB,
  BENCH_TRANSPORT_JOB,
  EVAL_STEP_JOB,
  GET_STATE_JOB,
  SET_STATE_JOB,
  TRAIN_INIT_JOB,
  TRAIN_STEP_JOB,
} from './kinds';
import { definedFields, parseFields, parseTensors } from './schema';
import type { JobSpec, RequestOfSpec, ResultOfSpec } from './spec';

/** Every job kind, by the name that travels in `job.kind`. */
export const JOBS = Object.freeze({
  attention: ATTENTION_JOB,
  'train-init': TRAIN_INIT_JOB,
  'train-step': TRAIN_STEP_JOB,
  'eval-step': EVAL_STEP_JOB,
  'get-state': GET_STATE_JOB,
  'set-state': SET_STATE_JOB,
  'bench-attention': BENCH_ATTENTION_JOB,
  'bench-transport': BENCH_TRANSPORT_JOB,
});

export type JobKind = keyof typeof JOBS;
export type JobRequest<K extends JobKind> = RequestOfSpec<(typeof JOBS)[K]>;
export type JobResult<K extends JobKind> = ResultOfSpec<(typeof JOBS)[K]>;
export const JOB_KINDS = Object.keys(JOBS) as JobKind[];

/** What a request is on the wire: the fields of a `job` frame, plus its bulk stream. */
export interface JobPayload {
  params: JsonObject;
  tensors: Record<string, WireTensor>;
  bulk?: Bulk;
}

/** What a result is on the wire: the fields of a `result` frame, plus its bulk stream. */
export interface ResultPayload {
  meta: Meta;
  tensors: Record<string, WireTensor>;
  bulk?: Bulk;
}

export function isJobKind(kind: string): kind is JobKind {
  return Object.prototype.hasOwnProperty.call(JOBS, kind);
}

export function jobKind(kind: string): JobKind {
  if (!isJobKind(kind)) throw new RingtrainError('UNKNOWN_JOB', `unknown job kind ${JSON.stringify(kind.slice(0, 64))}`, { hint: `known kinds: ${JOB_KINDS.join(', ')}` });
  return kind;
}

export function jobSpec<K extends JobKind>(kind: K): JobSpec {
  return JOBS[kind];
}

/** A typed request as it goes on the wire (the same check as the receiver's, so a bad request fails here). */
export function encodeJobRequest<K extends JobKind>(kind: K, request: JobRequest<K>): JobPayload {
  decodeJobRequest(kind, { params: definedFields(request.params), tensors: definedTensors(request.tensors), bulk: request.bulk });
  return { params: definedFields(request.params), tensors: definedTensors(request.tensors), bulk: request.bulk };
}

/** Proves a received request is a request of `kind`; BAD_JOB names the field at fault. */
export function decodeJobRequest<K extends JobKind>(kind: K, p: JobPayload): JobRequest<K> {
  const spec = jobSpec(kind);
  return withCode('BAD_JOB', `job ${kind}`, () => {
    const params = parseFields(spec.params, p.params, 'params');
    const tensors = parseTensors(spec.tensors, p.tensors, 'tensors');
    spec.checkRequest?.({ params, tensors });
    checkBulk(spec.requestBulk, true, p.bulk);
    // The spec of K parsed them: the fields are exactly JobRequest<K>'s.
    return { params, tensors, bulk: p.bulk } as JobRequest<K>;
  });
}

export function encodeJobResult<K extends JobKind>(kind: K, result: JobResult<K>): ResultPayload {
  decodeJobResult(kind, { meta: definedFields(result.meta), tensors: definedTensors(result.tensors), bulk: result.bulk });
  return { meta: definedFields(result.meta), tensors: definedTensors(result.tensors), bulk: result.bulk };
}

/** Proves a received result is a result of `kind`; BAD_RESULT names the field at fault. */
export function decodeJobResult<K extends JobKind>(kind: K, p: ResultPayload): JobResult<K> {
  const spec = jobSpec(kind);
  return withCode('BAD_RESULT', `result of ${kind}`, () => {
    const meta = parseFields(spec.meta, p.meta, 'meta');
    const tensors = parseTensors(spec.results, p.tensors, 'tensors');
    spec.checkResult?.({ meta, tensors });
    checkBulk(false, spec.resultBulk, p.bulk);
    return { meta, tensors, bulk: p.bulk } as JobResult<K>; // parsed by the spec of K, as above
  });
}

function checkBulk(required: boolean, allowed: boolean, bulk: Bulk | undefined): void {
  if (required && !bulk) throw new FrameIssue('bulk', 'a bulk stream', 'nothing');
  if (!allowed && bulk) throw new FrameIssue('bulk', 'no bulk stream', `${bulk.size} tensors`);
}

function definedTensors(o: object): Record<string, WireTensor> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function withCode<T>(code: string, what: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (!(e instanceof FrameIssue)) throw e;
    throw new RingtrainError(code, `${what}: ${e.message}`, { hint: 'coordinator and workers must run the same ringtrain version', details: { path: e.path, expected: e.expected, got: e.got } });
  }
}
