import { optionError } from '@ringtrain/core';
import { checkCount, checkCursorFits, PAD_DOCUMENT, type Batch, type DataCursor, type Dataset, type PackedCursor } from './dataset';
import type { DataWarnings, Document } from './document';
import { dataFileError } from './errors';
import { mixSeed, seededPermutation } from './seed';
import { loadSource } from './source';
import { TokenStream } from './token-stream';
import { IGNORE_TARGET, PAD_ID } from './tokenizer';

export interface PackedOptions {
  /** S: tokens per training sequence (inputs and targets each hold S). */
  seqLen: number;
  seed: number;
  /** Shuffle sequence order per epoch (default true); false keeps data order. */
  shuffle?: boolean;
  /** The last, partial sequence: padded (inputs <|pad|>, targets -1) or dropped. Default 'pad'. */
  remainder?: 'pad' | 'drop';
  warnings?: DataWarnings;
}

/**
 * Documents packed into one stream (`<|sep|>` between documents) and cut into sequences of
 * S + 1 tokens with stride S: sequence k covers stream[kS, kS + S], so its inputs are the first
 * S tokens and its targets the last S, and every token of the stream after the first is a
 * target exactly once. Sequence order is shuffled per epoch from (seed, epoch).
 *
 * Every batch carries `docs`: the index (in this stream) of the document each input token
 * belongs to, a separator counting with the document it ends, padding PAD_DOCUMENT.
 */
export class PackedDataset implements Dataset {
  readonly seqLen: number;
  readonly shuffle: boolean;
  readonly remainder: 'pad' | 'drop';
  /** Sequences per epoch. */
  readonly sequenceCount: number;
  readonly documentCount: number;
  /** Tokens in the packed stream, separators included. */
  readonly tokenCount: number;
  private readonly stream: TokenStream;
  private seed: number;
  private epoch = 0;
  private index = 0;
  private order: Int32Array;
  private readonly fingerprint: string;

  /** Reads files and folders (see loadSource) and packs them. */
  static fromSource(paths: string | readonly string[], opts: PackedOptions): PackedDataset {
    const { documents } = loadSource(paths, { warnings: opts.warnings });
    return new PackedDataset(documents, opts);
  }

  /** Packs in-memory documents; strings are encoded as UTF-8 bytes. */
  static fromDocuments(documents: ReadonlyArray<Document | string>, opts: PackedOptions): PackedDataset {
    const docs = documents.map((d, i) => (typeof d === 'string' ? { origin: `document ${i}`, tokens: Buffer.from(d, 'utf8') } : d));
    return new PackedDataset(
      docs.filter((d) => d.tokens.length > 0),
      opts,
    );
  }

  private constructor(documents: readonly Document[], opts: PackedOptions) {
    this.seqLen = checkCount('seqLen', opts.seqLen, 1);
    this.seed = checkCount('seed', opts.seed, 0);
    this.shuffle = opts.shuffle ?? true;
    this.remainder = opts.remainder ?? 'pad';
    if (this.remainder !== 'pad' && this.remainder !== 'drop') throw optionError('remainder', this.remainder, '"pad" or "drop"');
    this.stream = new TokenStream(documents);
    this.documentCount = this.stream.documentCount;
    this.tokenCount = this.stream.length;
    const predicted = this.tokenCount - 1;
    this.sequenceCount = Math.max(0, this.remainder === 'pad' ? Math.ceil(predicted / this.seqLen) : Math.floor(predicted / this.seqLen));
    if (this.sequenceCount === 0) {
      throw dataFileError(
        'DATA_EMPTY',
        `${this.documentCount} documents`,
        `hold ${this.tokenCount} tokens, too few for one sequence of ${this.seqLen} + 1 tokens${this.remainder === 'drop' ? ' with remainder "drop"' : ''}`,
        this.remainder === 'drop' ? 'use more data, a shorter sequence length, or remainder "pad"' : 'use more data (at least 2 tokens)',
        { tokens: this.tokenCount, seqLen: this.seqLen },
      );
    }
    this.fingerprint = `packed S=${this.seqLen} docs=${this.documentCount} tokens=${this.tokenCount} remainder=${this.remainder} shuffle=${this.shuffle}`;
    this.order = this.orderOf(0);
  }

  /**
   * Writes unshuffled sequence k into row `row` of inputs/targets ([rows * S] each), and with
   * `docs` ([rows * S]) the document of each input token.
   */
  sequence(k: number, inputs: Int32Array, targets: Int32Array, row = 0, docs?: Int32Array): void {
    if (!Number.isSafeInteger(k) || k < 0 || k >= this.sequenceCount) {
      throw new RangeError(`sequence ${k} outside 0..${this.sequenceCount - 1}`);
    }
    const S = this.seqLen;
    const start = k * S;
    const real = Math.min(S + 1, this.tokenCount - start); // tokens of this window inside the stream
    const window = new Int32Array(S + 1).fill(PAD_ID);
    const windowDocs = docs ? new Int32Array(S + 1).fill(PAD_DOCUMENT) : undefined;
    this.stream.read(start, real, window, 0, windowDocs);
    const at = row * S;
    inputs.set(window.subarray(0, S), at);
    targets.set(window.subarray(1, S + 1), at);
    if (docs && windowDocs) docs.set(windowDocs.subarray(0, S), at);
    // Targets past the end of the data carry no loss.
    for (let p = Math.max(0, real - 1); p < S; p++) targets[at + p] = IGNORE_TARGET;
  }

  nextBatch(batchSize: number): Batch {
    const B = checkCount('batchSize', batchSize, 1);
    const S = this.seqLen;
    const inputs = new Int32Array(B * S);
    const targets = new Int32Array(B * S);
    const docs = new Int32Array(B * S);
    for (let b = 0; b < B; b++) {
      if (this.index >= this.sequenceCount) {
        this.epoch += 1;
        this.index = 0;
        this.order = this.orderOf(this.epoch);
      }
      this.sequence(this.order[this.index], inputs, targets, b, docs);
      this.index += 1;
    }
    return { inputs, targets, seqLen: S, batchSize: B, docs };
  }

  /**
   * Unshuffled sequences first … first + count - 1 as one batch, without touching the stream
   * position (evaluation reads the data in order this way); a range past the end is an error,
   * never a wrap-around.
   */
  batchOf(first: number, count: number): Batch {
    const B = checkCount('count', count, 1);
    checkCount('first', first, 0);
    if (first + B > this.sequenceCount) {
      throw new RangeError(`sequences ${first}..${first + B - 1} outside the ${this.sequenceCount} sequences of the data`);
    }
    const S = this.seqLen;
    const inputs = new Int32Array(B * S);
    const targets = new Int32Array(B * S);
    const docs = new Int32Array(B * S);
    for (let b = 0; b < B; b++) this.sequence(first + b, inputs, targets, b, docs);
    return { inputs, targets, seqLen: S, batchSize: B, docs };
  }

  cursor(): PackedCursor {
    return { kind: 'packed', seed: this.seed, epoch: this.epoch, index: this.index, fingerprint: this.fingerprint };
  }

  /** Continues from a saved cursor, with the cursor's seed. */
  restore(cursor: DataCursor): void {
    checkCursorFits(cursor, 'packed', this.fingerprint);
    const c = cursor as PackedCursor;
    if (c.index > this.sequenceCount) {
      throw dataFileError('DATA_BAD_CURSOR', 'data cursor', `index ${c.index} is past the ${this.sequenceCount} sequences of an epoch`, 'use the cursor saved in the checkpoint manifest unchanged');
    }
    this.seed = c.seed;
    this.epoch = c.epoch;
    this.index = c.index;
    this.order = this.orderOf(c.epoch);
  }

  private orderOf(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from({ length: this.sequenceCount }, (_, i) => i);
    return seededPermutation(this.sequenceCount, mixSeed(this.seed, epoch));
  }
}
