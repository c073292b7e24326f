import { realpathSync } from 'node:fs';
import { RingtrainError, optionError } from '@ringtrain/core';
import type { DataWarnings, Document } from './document';
import { dataFileError } from './errors';
import { PackedDataset } from './packed-dataset';
import { seededPermutation } from './seed';
import { loadSource } from './source';

/**
 * Held-out file data. What evaluation scores, training never reads: file data is split by
 * document (never inside one), or the held-out documents come from files of their own
 * (`valData`), and then training reads every document of the data.
 *
 * The split: the data's documents, as `loadSource` returns them (paths in the order given,
 * folders walked in sorted order, one document per text or .bin file and per non-empty JSONL
 * line, empty documents left out), are numbered 0 … n−1. The permutation
 * `seededPermutation(n, HELD_OUT_SEED)` (Fisher–Yates driven by the core SeededRandom) orders
 * them, and its first k documents are held out, with
 *
 *   k = min(n − 1, max(1, round(valFraction · n)))   for n ≥ 2;   k = 0 for n = 1.
 *
 * Both parts keep the data order (ascending document index). The seed is fixed, not the run's
 * `--seed`: every run on the same data holds out the same documents, so their evaluations
 * compare. Changing the data (adding a file, say) changes n, and with it the split.
 */
export const HELD_OUT_SEED = 0x68656c64; // "held"
export const DEFAULT_VAL_FRACTION = 0.01;

export interface DocumentSplit {
  /** Indices of the training documents, ascending. */
  readonly train: Int32Array;
  /** Indices of the held-out documents, ascending. */
  readonly heldOut: Int32Array;
}

/** Checks a held-out fraction: greater than 0 and less than 1. */
export function checkValFraction(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value >= 1) {
    throw optionError(option, value, 'a fraction greater than 0 and less than 1, e.g. 0.01 (use valData for held-out files of their own)');
  }
  return value;
}

/** How many of `documents` documents are held out at `valFraction` (see above). */
export function heldOutCount(documents: number, valFraction: number): number {
  checkValFraction('valFraction', valFraction);
  if (documents < 2) return 0;
  return Math.min(documents - 1, Math.max(1, Math.round(valFraction * documents)));
}

/** The document-level split of `documents` documents (see the comment at the top of this file). */
export function splitDocuments(documents: number, valFraction: number, seed = HELD_OUT_SEED): DocumentSplit {
  if (!Number.isSafeInteger(documents) || documents < 0) throw optionError('documents', documents, 'a non-negative integer');
  const k = heldOutCount(documents, valFraction);
  const order = seededPermutation(documents, seed);
  const heldOut = order.slice(0, k).sort();
  const train = order.slice(k).sort();
  return { train, heldOut };
}

export interface HeldOutOptions {
  /** Fraction of the documents held out (default DEFAULT_VAL_FRACTION); unused with valData. */
  valFraction?: number;
  /** Held-out files of their own: the data then trains whole. */
  valData?: readonly string[] | null;
  warnings?: DataWarnings;
}

export interface SplitSource {
  /** The documents training reads. */
  readonly train: Document[];
  /** The held-out documents, in order (empty when there are none: one document and no valData). */
  readonly heldOut: Document[];
  /** Documents in the data (training plus held-out split from it; valData not counted). */
  readonly documents: number;
  /** Indices (in the data) of the held-out documents; null with valData. */
  readonly heldOutIndices: Int32Array | null;
  /** What is held out, for messages: "3 of 250 documents of the data (valFraction 0.01)" or the valData paths. */
  readonly description: string;
}

/**
 * Reads file data and splits it: by `valData` when given (refused if it shares a file with the
 * data), else by the fixed document-level split at `valFraction`.
 */
export function loadSplitSource(paths: readonly string[], opts: HeldOutOptions = {}): SplitSource {
  const data = loadSource(paths, { warnings: opts.warnings });
  if (opts.valData && opts.valData.length > 0) {
    const held = loadSource(opts.valData, { warnings: opts.warnings });
    const trained = new Set(data.files.map((f) => realpathSync(f)));
    const both = held.files.find((f) => trained.has(realpathSync(f)));
    if (both !== undefined) {
      throw dataFileError('DATA_HELD_OUT_OVERLAP', both, 'is in both the training data and the held-out data (valData)', 'name held-out files that the training data does not include', {
        data: [...paths],
        valData: [...opts.valData],
      });
    }
    return { train: data.documents, heldOut: held.documents, documents: data.documents.length, heldOutIndices: null, description: `${held.documents.length} documents of ${opts.valData.join(',')}` };
  }
  const valFraction = opts.valFraction ?? DEFAULT_VAL_FRACTION;
  const split = splitDocuments(data.documents.length, valFraction);
  return {
    train: Array.from(split.train, (i) => data.documents[i]),
    heldOut: Array.from(split.heldOut, (i) => data.documents[i]),
    documents: data.documents.length,
    heldOutIndices: split.heldOut,
    description: `${split.heldOut.length} of ${data.documents.length} documents of ${paths.join(',')} (valFraction ${valFraction})`,
  };
}

export interface DataSplitOptions extends HeldOutOptions {
  seqLen: number;
  seed: number;
  /** Shuffle the training sequences per epoch (default true); the held-out part is never shuffled. */
  shuffle?: boolean;
}

export interface DataSplit {
  /** Packed training stream over the training documents only. */
  readonly train: PackedDataset;
  /** The held-out documents packed in order (read with `batchOf`); null when nothing is held out. */
  readonly heldOut: PackedDataset | null;
  readonly source: SplitSource;
}

/** File data read once and packed twice: the training stream and the held-out sequences. */
export function openDataSplit(paths: readonly string[], opts: DataSplitOptions): DataSplit {
  const source = loadSplitSource(paths, opts);
  const train = PackedDataset.fromDocuments(source.train, { seqLen: opts.seqLen, seed: opts.seed, shuffle: opts.shuffle });
  return { train, heldOut: packHeldOut(source, opts.seqLen), source };
}

/** The held-out documents of a split packed in order (pad, no shuffle); null when there are none. */
export function packHeldOut(source: SplitSource, seqLen: number): PackedDataset | null {
  if (source.heldOut.length === 0) return null;
  try {
    return PackedDataset.fromDocuments(source.heldOut, { seqLen, seed: 0, shuffle: false });
  } catch (e) {
    if (e instanceof RingtrainError && e.code === 'DATA_EMPTY') {
      throw dataFileError('DATA_EMPTY', 'the held-out data', `(${source.description}) is too short for one sequence of ${seqLen} + 1 tokens`, 'hold out more: a larger --val-fraction, or --val-data FILES', {
        seqLen,
      });
    }
    throw e;
  }
}
