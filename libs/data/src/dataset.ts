import { optionError } from '@ringtrain/core';
import { dataFileError } from './errors';

/**
 * A training batch for the whole sequence, before any sharding: row b holds tokens
 * [b*seqLen, (b+1)*seqLen). targets[i] is the token after inputs[i], or -1 for no loss.
 */
export interface Batch {
  /** [batchSize * seqLen] token ids. */
  readonly inputs: Int32Array;
  /** [batchSize * seqLen] next-token ids; -1 (IGNORE_TARGET) = no loss. */
  readonly targets: Int32Array;
  readonly seqLen: number;
  readonly batchSize: number;
  /**
   * [batchSize * seqLen] the document of each input token, where a row may hold several
   * (packed file data); undefined where every row is one document (passkey, copy). Ids are
   * equal within a document and differ between the documents of a row: a `<|sep|>` input
   * belongs to the document it ends, and padding inputs carry PAD_DOCUMENT, which no real
   * document has. For packed data the id is the document's index in the packed stream.
   */
  readonly docs?: Int32Array;
}

/** The document id of padding inputs in `Batch.docs`: no real document has it (real ids are ≥ 0). */
export const PAD_DOCUMENT = -1;

/**
 * Per-document positions from `Batch.docs` ([B·S]): each token's index inside its document's
 * run of the row, 0 at the first token of every document in the row (a document carried over
 * from the previous sequence starts at 0 at the row's start too; padding counts as one more
 * document). What RoPE takes with `positions: per-document`.
 */
export function positionsInDocuments(docs: Int32Array, seqLen: number): Int32Array {
  checkCount('seqLen', seqLen, 1);
  if (docs.length % seqLen !== 0) throw optionError('docs', `${docs.length} ids`, `a multiple of seqLen ${seqLen}`);
  const out = new Int32Array(docs.length);
  for (let i = 0; i < docs.length; i++) {
    const rowStart = i % seqLen === 0;
    out[i] = rowStart || docs[i] !== docs[i - 1] ? 0 : out[i - 1] + 1;
  }
  return out;
}

/** Rows of S inputs and targets, one after another, as a batch. */
export function stackRows(seqLen: number, rows: ReadonlyArray<{ inputs: Int32Array; targets: Int32Array }>): Batch {
  const inputs = new Int32Array(rows.length * seqLen);
  const targets = new Int32Array(rows.length * seqLen);
  rows.forEach((row, b) => {
    inputs.set(row.inputs, b * seqLen);
    targets.set(row.targets, b * seqLen);
  });
  return { inputs, targets, seqLen, batchSize: rows.length };
}

/** A stream of batches whose position can be saved in a checkpoint and restored. */
export interface Dataset {
  readonly seqLen: number;
  nextBatch(batchSize: number): Batch;
  /** Where the stream stands now; restoring it makes the same next batches come out. */
  cursor(): DataCursor;
  restore(cursor: DataCursor): void;
}

export type PasskeySplit = 'train' | 'eval';
export const PASSKEY_SPLITS: readonly PasskeySplit[] = ['train', 'eval'];

/** Position in packed data: the next sequence is order(epoch)[index]. */
export interface PackedCursor {
  readonly kind: 'packed';
  readonly seed: number;
  readonly epoch: number;
  readonly index: number;
  /** Describes the data and packing the cursor belongs to; restore refuses another. */
  readonly fingerprint: string;
}

/** Position in the passkey stream: the next sample is number `index` of (seed, split). */
export interface PasskeyCursor {
  readonly kind: 'passkey';
  readonly seed: number;
  readonly split: PasskeySplit;
  readonly index: number;
  readonly fingerprint: string;
}

/** Position in the copy stream: the next sample is number `index` of `seed`. */
export interface CopyCursor {
  readonly kind: 'copy';
  readonly seed: number;
  readonly index: number;
  readonly fingerprint: string;
}

/** JSON-serialisable; stored in the checkpoint manifest. */
export type DataCursor = PackedCursor | PasskeyCursor | CopyCursor;

/** A cursor read back from JSON, checked field by field (never cast). */
export function parseDataCursor(value: unknown): DataCursor {
  const bad = (problem: string) =>
    dataFileError('DATA_BAD_CURSOR', 'data cursor', problem, 'use the cursor saved in the checkpoint manifest unchanged, or start the data from the beginning', {
      cursor: value,
    });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('is not an object');
  const v = value as Record<string, unknown>;
  const count = (key: string) => {
    const n = v[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`field "${key}" must be a non-negative integer, got ${JSON.stringify(n)}`);
    return n;
  };
  const text = (key: string) => {
    const s = v[key];
    if (typeof s !== 'string') throw bad(`field "${key}" must be a string, got ${JSON.stringify(s)}`);
    return s;
  };
  if (v.kind === 'packed') {
    return { kind: 'packed', seed: count('seed'), epoch: count('epoch'), index: count('index'), fingerprint: text('fingerprint') };
  }
  if (v.kind === 'passkey') {
    const split = text('split');
    if (!PASSKEY_SPLITS.includes(split as PasskeySplit)) throw bad(`field "split" must be one of ${PASSKEY_SPLITS.join(', ')}, got "${split}"`);
    return { kind: 'passkey', seed: count('seed'), split: split as PasskeySplit, index: count('index'), fingerprint: text('fingerprint') };
  }
  if (v.kind === 'copy') {
    return { kind: 'copy', seed: count('seed'), index: count('index'), fingerprint: text('fingerprint') };
  }
  throw bad(`field "kind" must be "packed", "passkey" or "copy", got ${JSON.stringify(v.kind)}`);
}

/** Refuses a cursor made for other data. */
export function checkCursorFits(cursor: DataCursor, kind: DataCursor['kind'], fingerprint: string): void {
  if (cursor.kind !== kind || cursor.fingerprint !== fingerprint) {
    throw dataFileError(
      'DATA_BAD_CURSOR',
      'data cursor',
      `was saved for ${cursor.kind} data "${cursor.fingerprint}", but this run's data is ${kind} "${fingerprint}"`,
      'resume with the same data, sequence length and data options as the checkpointed run, or start a new run',
      { saved: cursor.fingerprint, current: fingerprint },
    );
  }
}

export function checkCount(option: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw optionError(option, value, `an integer of at least ${min}`);
  return value;
}
