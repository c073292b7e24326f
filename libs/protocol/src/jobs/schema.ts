import * as c from '../check';
import { FrameIssue } from '../check';
import type { JsonObject, Meta } from '../messages';
import type { TensorOf, WireDtype, WireTensor } from '../tensor';

/**
 * A job kind is described once, as a schema of checks; its TypeScript types are derived from the
 * same schema, so what the coordinator sends, what the worker accepts and what the types say
 * cannot drift apart. A check returns the value with its proven type or throws a FrameIssue.
 */
export type Check<T> = (v: unknown, path: string) => T;
export type Schema = Record<string, Check<unknown>>;

/** Fields whose check admits `undefined` are optional. */
type OptionalKeys<S extends Schema> = { [K in keyof S]: undefined extends ReturnType<S[K]> ? K : never }[keyof S];
type RequiredKeys<S extends Schema> = Exclude<keyof S, OptionalKeys<S>>;
export type Parsed<S extends Schema> = { [K in RequiredKeys<S>]: ReturnType<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<ReturnType<S[K]>, undefined> };

// ---- checks of values ----

export const int = (min = 0, max = Number.MAX_SAFE_INTEGER): Check<number> => (v, p) => c.integer(v, p, min, max);
export const num: Check<number> = (v, p) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FrameIssue(p, 'a finite number', c.describe(v));
  return v;
};
export const bool: Check<boolean> = (v, p) => {
  if (typeof v !== 'boolean') throw new FrameIssue(p, 'a boolean', c.describe(v));
  return v;
};
export const text = (maxChars = 256): Check<string> => (v, p) => c.string(v, p, maxChars, 1);
export const oneOf = <T extends string>(options: readonly T[]): Check<T> => (v, p) => c.oneOf(v, p, options);
export const optional = <T>(check: Check<T>): Check<T | undefined> => (v, p) => (v === undefined ? undefined : check(v, p));
/** A map with exactly the listed number fields (config objects such as the model's). */
export const numbers = <K extends string>(keys: readonly K[]): Check<Record<K, number>> => (v, p) => {
  const f = c.object(v, p, keys);
  const out = {} as Record<K, number>; // filled with every key just below
  for (const k of keys) out[k] = num(f[k], c.join(p, k));
  return out;
};

// ---- checks of tensors ----

/** A tensor of this dtype and number of dims (each dim may be fixed by the kind's own cross-check). */
export const tensor = <D extends WireDtype>(dtype: D, dims: number): Check<TensorOf<D>> => (v, p) => {
  const t = v as WireTensor | undefined; // tensors come decoded by the frame validator; only dtype and rank are left to prove
  if (t === undefined) throw new FrameIssue(p, `a ${dtype} tensor`, 'nothing');
  if (t.dtype !== dtype) throw new FrameIssue(p, `a ${dtype} tensor`, `a ${t.dtype} tensor`);
  if (t.shape.length !== dims) throw new FrameIssue(p, `${dims} dims`, `shape [${t.shape.join(', ')}]`);
  return t as TensorOf<D>; // its dtype is D, checked just above
};

/** Throws unless `t` has exactly this shape. */
export function expectShape(t: WireTensor | undefined, path: string, shape: readonly number[]): void {
  if (t && (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]))) {
    throw new FrameIssue(path, `shape [${shape.join(', ')}]`, `shape [${t.shape.join(', ')}]`);
  }
}

// ---- applying a schema ----

/** Checks a plain object against a schema: no unknown keys, every required key present. */
export function parseFields<S extends Schema>(schema: S, v: unknown, path: string): Parsed<S> {
  const o = c.map(v, path, Object.keys(schema).length);
  for (const key of Object.keys(o)) {
    if (!Object.prototype.hasOwnProperty.call(schema, key) && o[key] !== undefined) throw new FrameIssue(c.join(path, key), 'no such field', c.describe(o[key]));
  }
  const out: Record<string, unknown> = {};
  for (const [key, check] of Object.entries(schema)) {
    const value = check(o[key], c.join(path, key));
    if (value !== undefined) out[key] = value;
  }
  return out as Parsed<S>; // every key was checked by its schema entry above
}

/** Checks named tensors against a schema (no unknown names). */
export function parseTensors<S extends Schema>(schema: S, tensors: Record<string, WireTensor>, path: string): Parsed<S> {
  return parseFields(schema, tensors, path);
}

/** Drops undefined fields: what a schema's parse would produce, ready for the wire. */
export function definedFields<T extends object>(o: T): JsonObject & Meta {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JsonObject & Meta; // values are the schema's JSON scalars
}
