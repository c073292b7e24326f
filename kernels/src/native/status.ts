import { loadNativeAddon } from './addon';

export interface NativeStatus {
  loaded: boolean;
  /** What MatMul runs on: OpenBLAS's cblas_sgemm or the portable gemm; null when not loaded. */
  blas: 'openblas' | 'fallback' | null;
  /** Why the addon is not loaded; null when it is. */
  reason: string | null;
  path: string | null;
  /** OpenBLAS's kernel choice for this CPU, e.g. 'Cooperlake' ('' without OpenBLAS). */
  blasCore: string | null;
  /** OPENBLAS_CORETYPE in force (set by the user, or from the build's probe), if any. */
  openblasCoreType: string | null;
  defaultThreads: number | null;
}

/** Loads the default addon if needed and says what it runs on, or why it is not there. */
export function nativeStatus(): NativeStatus {
  const r = loadNativeAddon();
  if (r.addon === null) {
    return { loaded: false, blas: null, reason: r.reason, path: null, blasCore: null, openblasCoreType: null, defaultThreads: null };
  }
  const info = r.addon.info();
  return {
    loaded: true,
    blas: info.blas,
    reason: null,
    path: r.path,
    blasCore: info.blasCore,
    openblasCoreType: r.openblasCoreType,
    defaultThreads: info.defaultThreads,
  };
}
