import type { Dataset } from './dataset';
import type { DataWarnings } from './document';
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
  warnings?: DataWarnings;
}

/**
 * The training stream for a data spec: `passkey` is the built-in passkey task (train split),
 * `copy` the built-in copy task (write `./passkey` or `./copy` for files of those names);
 * anything else is one or more files or folders.
 */
export function openDataset(spec: string | readonly string[], opts: OpenDatasetOptions): Dataset {
  const paths = typeof spec === 'string' ? [spec] : spec;
  if (paths.length === 1 && paths[0] === 'passkey') {
    return new PasskeyDataset({ ...opts.passkey, seqLen: opts.seqLen, seed: opts.seed, split: 'train' });
  }
  if (paths.length === 1 && paths[0] === 'copy') return new CopyDataset(opts.seqLen, opts.seed);
  return PackedDataset.fromSource(paths, { seqLen: opts.seqLen, seed: opts.seed, shuffle: opts.shuffle, warnings: opts.warnings });
}
