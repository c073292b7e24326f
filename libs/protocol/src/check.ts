/**
 * Primitive checks for values read out of a frame. Each returns the value with its proven type
 * or throws a FrameIssue naming the path (`tensors[2].shape[1]`), what was expected and what
 * came. The codec turns issues into coded RingtrainErrors.
 */
export class FrameIssue extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`${path || 'frame'}: got ${got}, expected ${expected}`); // 'got' first: close reasons are truncated
    this.name = 'FrameIssue';
  }
}

export type Fields = Record<string, unknown>;

/** A short, bounded description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} chars` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'null-prototype object'}`;
  return typeof v;
}

function isPlainObject(v: unknown): v is Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A plain object whose keys are exactly the required ones plus any of the optional ones.
 * An optional key holding `undefined` counts as absent.
 */
export function object(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Fields {
  if (!isPlainObject(v)) throw new FrameIssue(path, 'a map', describe(v));
  for (const key of required) {
    if (!Object.prototype.hasOwnProperty.call(v, key)) throw new FrameIssue(join(path, key), 'a value', 'nothing');
  }
  for (const key of Object.keys(v)) {
    if (!required.includes(key) && !(optional.includes(key) || v[key] === undefined)) {
      throw new FrameIssue(join(path, key), 'no such field', describe(v[key]));
    }
  }
  return v;
}

/** A plain object with string keys and any values, at most maxEntries of them. */
export function map(v: unknown, path: string, maxEntries: number): Fields {
  if (!isPlainObject(v)) throw new FrameIssue(path, 'a map', describe(v));
  const n = Object.keys(v).length;
  if (n > maxEntries) throw new FrameIssue(path, `at most ${maxEntries} entries`, `${n}`);
  return v;
}

export function string(v: unknown, path: string, maxChars: number, minChars = 0): string {
  if (typeof v !== 'string') throw new FrameIssue(path, 'a string', describe(v));
  if (v.length < minChars || v.length > maxChars) {
    throw new FrameIssue(path, minChars > 0 ? `${minChars} to ${maxChars} chars` : `at most ${maxChars} chars`, `${v.length} chars`);
  }
  return v;
}

export function integer(v: unknown, path: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new FrameIssue(path, 'an integer', describe(v));
  if (v < min || v > max) throw new FrameIssue(path, `an integer in [${min}, ${max}]`, String(v));
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T {
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
    throw new FrameIssue(path, `one of ${options.join(', ')}`, describe(v));
  }
  return v as T; // proven by the includes() check above
}

export function array(v: unknown, path: string, maxItems: number): unknown[] {
  if (!Array.isArray(v)) throw new FrameIssue(path, 'an array', describe(v));
  if (v.length > maxItems) throw new FrameIssue(path, `at most ${maxItems} items`, `${v.length}`);
  return v;
}

export function bytes(v: unknown, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new FrameIssue(path, 'binary (msgpack bin)', describe(v));
  return v;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}
