import type { Dataset } from './dataset';
import type { DataWarnings } from './document';
import { loadSplitSource, type HeldOutOptions } from './held-out';
import { PackedDataset } from './packed-dataset';
import type { PasskeyOptions } from './passkey';
import { PasskeyDataset } from './passkey-dataset';
import { CopyDataset } from './copy-dataset';

/** Built-in data source names; anything else is a path. */
export const BUILTIN_SOURCES = ['passkey', 'copy'] as const;

export interface OpenDatasetOptions {
  seqLen: number;
  seed: number;
  /** Packed data: shuffle sequence order per epoch (default true). */
  shuffle?: boolean;
  /** Passkey task options other than seqLen. */
  passkey?: Omit<PasskeyOptions, 'seqLen'>;
  /**
   * File data: what is held out from training (held-out.ts). By default the fixed document split
   * at DEFAULT_VAL_FRACTION; with `valData`, the data trains whole.
   */
  heldOut?: Omit<HeldOutOptions, 'warnings'>;
  warnings?: DataWarnings;
}

/**
 * The training stream for a data spec: `passkey` is the built-in passkey task (train split),
 * `copy` the built-in copy task (write `./passkey` or `./copy` for files of those names);
 * anything else is one or more files or folders, without their held-out documents.
 */
export function openDataset(spec: string | readonly string[], opts: OpenDatasetOptions): Dataset {
  if (isBuiltinSource(spec, 'passkey')) return new PasskeyDataset({ ...opts.passkey, seqLen: opts.seqLen, seed: opts.seed, split: 'train' });
  if (isBuiltinSource(spec, 'copy')) return new CopyDataset(opts.seqLen, opts.seed);
  const { train } = loadSplitSource(typeof spec === 'string' ? [spec] : spec, { ...opts.heldOut, warnings: opts.warnings });
  return PackedDataset.fromDocuments(train, { seqLen: opts.seqLen, seed: opts.seed, shuffle: opts.shuffle });
}

/** Whether a data spec names the built-in source `name` (alone; a path is never one). */
export function isBuiltinSource(spec: string | readonly string[], name: (typeof BUILTIN_SOURCES)[number]): boolean {
  const paths = typeof spec === 'string' ? [spec] : spec;
  return paths.length === 1 && paths[0] === name;
}
