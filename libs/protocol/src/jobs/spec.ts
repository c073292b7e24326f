import type { Bulk } from '../bulk';
import type { Parsed, Schema } from './schema';

/**
 * One job kind: what the coordinator sends (params, small named tensors, optionally a bulk
 * stream) and what each rank answers (meta scalars, small named tensors, optionally a bulk
 * stream). `check` adds the cross-field rules a schema cannot say (tensor shapes from params).
 */
export interface JobSpec<P extends Schema = Schema, T extends Schema = Schema, M extends Schema = Schema, R extends Schema = Schema> {
  readonly params: P;
  readonly tensors: T;
  readonly meta: M;
  readonly results: R;
  /** The request carries a bulk stream (required), or never does. */
  readonly requestBulk: boolean;
  /** A result may carry a bulk stream. */
  readonly resultBulk: boolean;
  // Methods (not function-valued fields), so a spec of particular schemas is still a JobSpec.
  checkRequest?(r: { params: Parsed<P>; tensors: Parsed<T> }): void;
  checkResult?(r: { meta: Parsed<M>; tensors: Parsed<R> }): void;
}

export interface RequestOfSpec<S extends JobSpec> {
  params: Parsed<S['params']>;
  tensors: Parsed<S['tensors']>;
  bulk?: Bulk;
}

export interface ResultOfSpec<S extends JobSpec> {
  meta: Parsed<S['meta']>;
  tensors: Parsed<S['results']>;
  bulk?: Bulk;
}

/** Identity, for inference: `defineJob({...})` keeps the literal schema types. */
export function defineJob<P extends Schema, T extends Schema, M extends Schema, R extends Schema>(spec: JobSpec<P, T, M, R>): JobSpec<P, T, M, R> {
  return Object.freeze(spec);
}
