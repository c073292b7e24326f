import { loadNativeAddon, type LoadNativeOptions, type NativeAddon } from './addon';

/**
 * The addon's GELU and RMSNorm, forward and backward, on plain Float32Arrays (no tfjs): the
 * native twins of the fused JS ops of the training step (worker/src/model/fused.ts), which use
 * them when the `native` backend is selected and are tested against them.
 */
export type NativeElementwise = Pick<NativeAddon, 'geluForward' | 'geluBackward' | 'rmsNormForward' | 'rmsNormBackward'>;

/** The addon's elementwise ops, or null when the addon is not built (or was built before them). */
export function nativeElementwise(opts: LoadNativeOptions = {}): NativeElementwise | null {
  const { addon } = loadNativeAddon(opts);
  if (addon === null || typeof addon.geluForward !== 'function' || typeof addon.rmsNormForward !== 'function') return null;
  return addon;
}
