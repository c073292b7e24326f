import { SeededRandom } from '@ringtrain/core';
import { checkCount, checkCursorFits, stackRows, type Batch, type CopyCursor, type DataCursor, type Dataset } from './dataset';
import { logUniformInt, mixSeed } from './seed';
import { IGNORE_TARGET } from './tokenizer';

/**
 * The copy task, a synthetic warm-up source (`--data copy`): each sample is a random block of
 * printable bytes (digits included) repeated until it fills S + 1 tokens, so after the first
 * cycle every next token can be read off the context one period back. It teaches the copy
 * circuit (match the previous tokens, read what followed) densely — every target after the
 * first cycle carries its signal — which a passkey sample teaches with only a handful of answer
 * digits. Targets inside the first cycle are unpredictable and carry no loss.
 *
 * The period is drawn log-uniformly from MIN_PERIOD to S/3 per sample (at least three cycles).
 */
export const COPY_MIN_PERIOD = 8;
/** Printable ASCII '!'..'~'. */
const FIRST_BYTE = 33;
const BYTES = 94;
const TAG = 0x636f7079;

export interface CopySample {
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  readonly period: number;
}

/** Sample `index` of the copy stream with `seed`: the same on every machine, for any access order. */
export function copySample(seqLen: number, seed: number, index: number): CopySample {
  checkCount('seqLen', seqLen, 1);
  const rng = new SeededRandom(mixSeed(seed, TAG, index));
  const period = Math.min(seqLen, logUniformInt(rng, COPY_MIN_PERIOD, seqLen / 3));
  const block = Int32Array.from({ length: period }, () => FIRST_BYTE + Math.floor(rng.next() * BYTES));
  const inputs = new Int32Array(seqLen);
  const targets = new Int32Array(seqLen);
  for (let j = 0; j < seqLen; j++) {
    inputs[j] = block[j % period];
    targets[j] = j + 1 < period ? IGNORE_TARGET : block[(j + 1) % period];
  }
  return { inputs, targets, period };
}

/** Samples first … first + count - 1 of the copy stream with `seed` as one batch. */
export function copyBatch(seqLen: number, seed: number, first: number, count: number): Batch {
  checkCount('count', count, 1);
  return stackRows(seqLen, Array.from({ length: count }, (_, b) => copySample(seqLen, seed, first + b)));
}

/** The copy task as an endless stream of batches with a cursor. */
export class CopyDataset implements Dataset {
  private index = 0;
  private seed: number;
  private readonly fingerprint: string;

  constructor(
    readonly seqLen: number,
    seed: number,
  ) {
    checkCount('seqLen', seqLen, 1);
    this.seed = checkCount('seed', seed, 0);
    this.fingerprint = `copy S=${seqLen} period=${COPY_MIN_PERIOD}..S/3`;
  }

  nextBatch(batchSize: number): Batch {
    const B = checkCount('batchSize', batchSize, 1);
    const batch = stackRows(this.seqLen, Array.from({ length: B }, (_, b) => copySample(this.seqLen, this.seed, this.index + b)));
    this.index += B;
    return batch;
  }

  cursor(): CopyCursor {
    return { kind: 'copy', seed: this.seed, index: this.index, fingerprint: this.fingerprint };
  }

  restore(cursor: DataCursor): void {
    checkCursorFits(cursor, 'copy', this.fingerprint);
    const c = cursor as CopyCursor;
    this.seed = c.seed;
    this.index = c.index;
  }
}
