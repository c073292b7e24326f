import { RingtrainError } from '@ringtrain/core';
import type { WireTensor } from '@ringtrain/transport';

/** Validation of job parameters and tensors at the edge of the worker (never cast). */
function bad(field: string, expected: string, value: unknown): RingtrainError {
  return new RingtrainError('BAD_JOB', `job parameter "${field}" must be ${expected}, got ${JSON.stringify(value)}`, { details: { field } });
}

export function str(p: Record<string, unknown>, f: string): string {
  if (typeof p[f] !== 'string') throw bad(f, 'a string', p[f]);
  return p[f] as string;
}

export function num(p: Record<string, unknown>, f: string): number {
  if (typeof p[f] !== 'number' || !Number.isFinite(p[f])) throw bad(f, 'a finite number', p[f]);
  return p[f] as number;
}

export function int(p: Record<string, unknown>, f: string): number {
  const v = num(p, f);
  if (!Number.isInteger(v)) throw bad(f, 'an integer', v);
  return v;
}

export function bool(p: Record<string, unknown>, f: string): boolean {
  if (typeof p[f] !== 'boolean') throw bad(f, 'a boolean', p[f]);
  return p[f] as boolean;
}

export function obj(p: Record<string, unknown>, f: string): Record<string, unknown> {
  const v = p[f];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(f, 'an object', v);
  return v as Record<string, unknown>;
}

/** Numbers only, for config objects passed through a job (model, optimizer). */
export function numbers(p: Record<string, unknown>, f: string, keys: readonly string[]): Record<string, number> {
  const o = obj(p, f);
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = num(o, k);
  return out;
}

export function tensor(ts: Record<string, WireTensor>, name: string, dtype: WireTensor['dtype'], shape?: number[]): WireTensor {
  const t = ts[name];
  if (!t) throw new RingtrainError('BAD_JOB', `job tensor "${name}" is missing`, { details: { name } });
  if (t.dtype !== dtype) throw new RingtrainError('BAD_JOB', `job tensor "${name}" is ${t.dtype}, expected ${dtype}`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]))) {
    throw new RingtrainError('BAD_JOB', `job tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t;
}
