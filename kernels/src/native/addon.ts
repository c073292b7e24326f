import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * The compiled addon (kernels/native, built by scripts/build-native.mjs). Every function works in
 * place on the caller's typed arrays; matrices are row-major fp32. All are synchronous except
 * the attention `*Async` pair: same arguments, run on libuv's thread pool, the promise settles
 * when the outputs are written (the caller must not touch the arrays before).
 * `threads` 0 means the addon's default (OpenBLAS's thread count, which follows
 * OPENBLAS_NUM_THREADS; without OpenBLAS that variable, else every core).
 */
export interface NativeAddon {
  /** C = alpha·op(A)·op(B) + beta·C; op(A) is [M,K] (A stored [K,M] with transA). beta 0 never reads C. */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
    threads: number,
  ): void;
  /** c[i] ([M,N] at i·M·N) = op(a at aOffsets[i]) · op(b at bOffsets[i]); offsets in elements. */
  batchMatMul(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    aOffsets: Float64Array,
    bOffsets: Float64Array,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    threads: number,
  ): void;
  /**
   * Head-major q [H,Sq,D], k/v [Hkv,Sk,D] -> out [H,Sq,D], lse [H,Sq] (see kernels/src/types.ts).
   * docQ [Sq] / docK [Sk]: document ids (a query sees only keys of its document), both or null.
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    posQ: Int32Array,
    posK: Int32Array,
    docQ: Int32Array | null,
    docK: Int32Array | null,
    heads: number,
    kvHeads: number,
    seqQ: number,
    seqK: number,
    headDim: number,
    causal: boolean,
    scale: number,
    out: Float32Array,
    lse: Float32Array,
    threads: number,
  ): void;
  /** Given dout and the final out/lse -> dq [H,Sq,D], dk/dv [Hkv,Sk,D]. */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    posQ: Int32Array,
    posK: Int32Array,
    docQ: Int32Array | null,
    docK: Int32Array | null,
    heads: number,
    kvHeads: number,
    seqQ: number,
    seqK: number,
    headDim: number,
    causal: boolean,
    scale: number,
    dout: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    threads: number,
  ): void;
  attentionForwardAsync(...args: Parameters<NativeAddon['attentionForward']>): Promise<void>;
  attentionBackwardAsync(...args: Parameters<NativeAddon['attentionBackward']>): Promise<void>;
  /** y = gelu_tanh(x), elementwise (see kernels/native/src/elementwise.h). */
  geluForward(x: Float32Array, y: Float32Array): void;
  /** dx = dy · gelu_tanh'(x). */
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** Rows of x [rows, d] (d = g.length): y = x·r·g, inv [rows] = r = 1/sqrt(mean(x²) + eps). */
  rmsNormForward(x: Float32Array, g: Float32Array, eps: number, y: Float32Array, inv: Float32Array): void;
  /** dx [rows, d] and dg [d] (written, not added) of rmsNormForward, given its inv. */
  rmsNormBackward(x: Float32Array, g: Float32Array, inv: Float32Array, dy: Float32Array, dx: Float32Array, dg: Float32Array): void;
  info(): NativeAddonInfo;
}

export interface NativeAddonInfo {
  blas: 'openblas' | 'fallback';
  /** The kernels OpenBLAS chose for this CPU ('' without OpenBLAS). */
  blasCore: string;
  defaultThreads: number;
  /** Vector width the addon was compiled for, in bits (512 AVX-512, 256 AVX2, 128 otherwise). */
  simdWidth: number;
  compiler?: string;
}

/** 'default': OpenBLAS when it was found at build time; 'noblas': always the portable gemm. */
export type NativeVariant = 'default' | 'noblas';

export interface LoadNativeOptions {
  variant?: NativeVariant;
  /** An explicit .node file; overrides the variant's usual locations. */
  path?: string;
}

export type NativeLoadResult =
  | { addon: NativeAddon; reason: null; path: string; variant: NativeVariant; openblasCoreType: string | null }
  | { addon: null; reason: string };

/** What scripts/build-native.mjs records beside the addons. */
interface BuildRecord {
  summary?: string;
  openblasCoreType?: string | null;
}

const FILES: Record<NativeVariant, string> = {
  default: 'ringtrain_native.node',
  noblas: 'ringtrain_native_noblas.node',
};

const cache = new Map<string, NativeLoadResult>();

/**
 * Loads the addon, once per process and variant; never throws. Returns null with a reason when
 * it was not built (no compiler), was built for another Node ABI, or its libraries are missing.
 * Looks in $RINGTRAIN_NATIVE_DIR, then kernels/native/build/Release relative to this source file
 * (ts-jest, tsc) and to dist/ (the esbuild bundle).
 */
export function loadNativeAddon(opts: LoadNativeOptions = {}): NativeLoadResult {
  const variant = opts.variant ?? 'default';
  const key = opts.path ?? variant;
  let result = cache.get(key);
  if (result === undefined) {
    result = load(variant, opts.path);
    cache.set(key, result);
  }
  return result;
}

function candidateDirs(): string[] {
  const dirs = [join(__dirname, '../../native/build/Release'), join(__dirname, '../kernels/native/build/Release')];
  const fromEnv = process.env.RINGTRAIN_NATIVE_DIR;
  return fromEnv ? [fromEnv, ...dirs] : dirs;
}

function load(variant: NativeVariant, explicitPath: string | undefined): NativeLoadResult {
  // A real Node require (not a bundler's or jest's): .node files and JSON by absolute path.
  const nodeRequire = createRequire(__filename);
  const paths = explicitPath ? [explicitPath] : candidateDirs().map((d) => join(d, FILES[variant]));
  const missing: string[] = [];
  for (const path of paths) {
    const record = readBuildRecord(nodeRequire, join(path, '..', 'ringtrain_native.json'));
    const coreType = variant === 'default' ? applyOpenBlasCoreType(record) : null;
    try {
      const addon = nodeRequire(path) as NativeAddon;
      return { addon, reason: null, path, variant, openblasCoreType: coreType };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'MODULE_NOT_FOUND') {
        missing.push(path);
        continue;
      }
      return { addon: null, reason: `${path} failed to load: ${err.message.split('\n')[0]} (rebuild with \`npm run build\`)` };
    }
  }
  return {
    addon: null,
    reason: `the native addon is not built (looked for ${missing.join(', ')}); \`npm run build\` builds it when a C++ compiler is installed`,
  };
}

function readBuildRecord(nodeRequire: NodeJS.Require, path: string): BuildRecord {
  try {
    return nodeRequire(path) as BuildRecord;
  } catch {
    return {};
  }
}

/**
 * OpenBLAS picks its kernels once, when the library loads, and 0.3.21 mistakes some newer CPUs
 * for very old ones. The build's probe records a measured-faster choice; it is applied only if
 * the user has not chosen one, and before the addon (and with it OpenBLAS) is loaded.
 */
function applyOpenBlasCoreType(record: BuildRecord): string | null {
  const chosen = process.env.OPENBLAS_CORETYPE;
  if (chosen) return chosen;
  if (!record.openblasCoreType) return null;
  process.env.OPENBLAS_CORETYPE = record.openblasCoreType;
  return record.openblasCoreType;
}
