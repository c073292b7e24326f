/**
 * The two native builds the tests run against, loaded explicitly by variant: 'default' (OpenBLAS
 * when the build found it) and 'noblas' (the portable gemm). Used by the kernels' tests only.
 */
import { loadNativeAddon, type NativeAddon, type NativeVariant } from './addon';

export interface BuildUnderTest {
  variant: NativeVariant;
  label: string;
  addon: NativeAddon | null;
  reason: string | null;
}

export const buildsUnderTest: BuildUnderTest[] = (['default', 'noblas'] as const).map((variant) => {
  const r = loadNativeAddon({ variant });
  const blas = r.addon?.info().blas;
  const label = `native ${variant} build${blas ? ` (${blas === 'openblas' ? 'OpenBLAS' : 'portable gemm'})` : ''}`;
  return { variant, label, addon: r.addon, reason: r.reason };
});

/** CI machines have a compiler and OpenBLAS, so there the addon must load (see addon.test.ts). */
export const nativeRequired = Boolean(process.env.CI) || process.env.RINGTRAIN_REQUIRE_NATIVE === '1';

// Skipped suites carry the reason in their titles; say it in the default (non-verbose) report too.
for (const b of buildsUnderTest) {
  if (b.addon === null) console.warn(`native ${b.variant} build: its tests are SKIPPED: ${b.reason}`);
}
