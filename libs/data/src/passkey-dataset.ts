import { checkCount, checkCursorFits, type DataCursor, type Dataset, type PasskeyCursor, type PasskeySplit } from './dataset';
import { mixSeed } from './seed';
import { passkeyBatchOf, passkeyConfig, type PasskeyBatch, type PasskeyConfig, type PasskeyOptions } from './passkey';

export interface PasskeyDatasetOptions extends PasskeyOptions {
  seed: number;
  /** 'train' (default) or 'eval', the held-out stream. */
  split?: PasskeySplit;
}

/** The passkey task as an endless stream of batches with a cursor (the built-in source `passkey`). */
export class PasskeyDataset implements Dataset {
  readonly config: PasskeyConfig;
  readonly split: PasskeySplit;
  private seed: number;
  private index = 0;
  private readonly fingerprint: string;

  constructor(opts: PasskeyDatasetOptions) {
    const { seed, split, ...options } = opts;
    this.config = passkeyConfig(options);
    this.seed = checkCount('seed', seed, 0);
    this.split = split ?? 'train';
    const c = this.config;
    const sentences = mixSeed(...Buffer.from(c.fillerSentences.join('\n'), 'utf8')).toString(16);
    this.fingerprint = `passkey S=${c.seqLen} key=${c.keyLength} depth=${c.keyDepth.join('-')} filler=${c.filler}/${sentences} loss=${c.lossOn} split=${this.split}`;
  }

  get seqLen(): number {
    return this.config.seqLen;
  }

  nextBatch(batchSize: number): PasskeyBatch {
    const batch = passkeyBatchOf(this.config, { seed: this.seed, split: this.split, index: this.index }, batchSize);
    this.index += batch.batchSize;
    return batch;
  }

  cursor(): PasskeyCursor {
    return { kind: 'passkey', seed: this.seed, split: this.split, index: this.index, fingerprint: this.fingerprint };
  }

  restore(cursor: DataCursor): void {
    checkCursorFits(cursor, 'passkey', this.fingerprint);
    const c = cursor as PasskeyCursor;
    this.seed = c.seed;
    this.index = c.index;
  }
}
