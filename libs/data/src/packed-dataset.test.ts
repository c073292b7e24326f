import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { copyBatch, CopyDataset } from './copy-dataset';
import { PAD_DOCUMENT, parseDataCursor, positionsInDocuments, type Batch } from './dataset';
import { openDataset } from './open-dataset';
import { PackedDataset } from './packed-dataset';
import { PasskeyDataset } from './passkey-dataset';
import { decode, encode, IGNORE_TARGET, PAD_ID, SEP_ID } from './tokenizer';

const DOCS = ['abc', 'de', 'fghij']; // stream: a b c | d e | f g h i j  (12 tokens)
const STREAM = [...encode('abc'), SEP_ID, ...encode('de'), SEP_ID, ...encode('fghij')];

/** Many short documents, so shuffles have room to differ. */
const MANY = Array.from({ length: 60 }, (_, i) => `document number ${i} says hello`);

function rows(batch: Batch, field: 'inputs' | 'targets' | 'docs'): number[][] {
  const data = batch[field]!;
  return Array.from({ length: batch.batchSize }, (_, b) => Array.from(data.subarray(b * batch.seqLen, (b + 1) * batch.seqLen)));
}

function take(ds: { nextBatch(n: number): Batch }, count: number, batchSize: number): Batch[] {
  return Array.from({ length: count }, () => ds.nextBatch(batchSize));
}

describe('packing', () => {
  it('cuts the stream into S+1 windows with stride S, <|sep|> between documents', () => {
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 4, seed: 0, shuffle: false });
    expect([ds.documentCount, ds.tokenCount, ds.sequenceCount]).toEqual([3, 12, 3]);
    const batch = ds.nextBatch(3);
    expect(batch.inputs).toHaveLength(12);
    expect(batch.targets).toHaveLength(12);
    expect(rows(batch, 'inputs')).toEqual([STREAM.slice(0, 4), STREAM.slice(4, 8), STREAM.slice(8, 12)]);
    expect(rows(batch, 'targets')).toEqual([STREAM.slice(1, 5), STREAM.slice(5, 9), [...STREAM.slice(9, 12), IGNORE_TARGET]]);
    expect(decode(batch.inputs)).toBe('abc<|sep|>de<|sep|>fghij');
  });

  it('targets are the inputs shifted by one across the whole packed stream', () => {
    const ds = PackedDataset.fromDocuments(MANY, { seqLen: 37, seed: 0, shuffle: false });
    const batch = ds.nextBatch(ds.sequenceCount);
    const inputs = Array.from(batch.inputs);
    const targets = Array.from(batch.targets);
    const real = targets.filter((t) => t !== IGNORE_TARGET).length;
    expect(real).toBe(ds.tokenCount - 1); // every token after the first is a target exactly once
    expect(targets.slice(0, real)).toEqual(inputs.slice(1, real + 1));
    expect(inputs.filter((t) => t === SEP_ID)).toHaveLength(MANY.length - 1);
  });

  it('pads the last sequence: inputs <|pad|>, targets -1', () => {
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 5, seed: 0, shuffle: false });
    expect(ds.sequenceCount).toBe(3);
    const batch = ds.nextBatch(3);
    const last = rows(batch, 'inputs')[2];
    const lastTargets = rows(batch, 'targets')[2];
    expect(last).toEqual([STREAM[10], STREAM[11], PAD_ID, PAD_ID, PAD_ID]);
    expect(lastTargets).toEqual([STREAM[11], -1, -1, -1, -1]);
  });

  it('drops the last partial sequence with remainder "drop"', () => {
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 5, seed: 0, shuffle: false, remainder: 'drop' });
    expect(ds.sequenceCount).toBe(2);
    expect(Array.from(ds.nextBatch(2).targets)).not.toContain(IGNORE_TARGET);
  });

  it('refuses data too short for one sequence, and bad sizes', () => {
    expect(() => PackedDataset.fromDocuments(['a'], { seqLen: 4, seed: 0 })).toThrow(expect.objectContaining({ code: 'DATA_EMPTY' }));
    expect(() => PackedDataset.fromDocuments(DOCS, { seqLen: 20, seed: 0, remainder: 'drop' })).toThrow(expect.objectContaining({ code: 'DATA_EMPTY' }));
    expect(() => PackedDataset.fromDocuments(DOCS, { seqLen: 0, seed: 0 })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => PackedDataset.fromDocuments(DOCS, { seqLen: 4, seed: 0 }).nextBatch(0)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });
});

describe('documents of the input tokens (Batch.docs)', () => {
  const P = PAD_DOCUMENT;

  it('names each input token\'s document; a separator belongs to the document it ends', () => {
    // stream: a b c | d e | f g h i j
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 4, seed: 0, shuffle: false });
    expect(rows(ds.nextBatch(3), 'docs')).toEqual([
      [0, 0, 0, 0], // a b c |
      [1, 1, 1, 2], // d e | f
      [2, 2, 2, 2], // g h i j
    ]);
  });

  it('gives padding an id of its own, which no real document has', () => {
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 5, seed: 0, shuffle: false });
    const batch = ds.nextBatch(3);
    expect(rows(batch, 'docs')).toEqual([
      [0, 0, 0, 0, 1], // a b c | d
      [1, 1, 2, 2, 2], // e | f g h
      [2, 2, P, P, P], // i j <pad> <pad> <pad>
    ]);
    expect(P).toBeLessThan(0);
  });

  it('agrees with the separators of the stream everywhere, shuffled rows and all', () => {
    const ds = PackedDataset.fromDocuments(MANY, { seqLen: 37, seed: 5 });
    const batch = ds.nextBatch(ds.sequenceCount);
    const ordered = PackedDataset.fromDocuments(MANY, { seqLen: 37, seed: 5, shuffle: false });
    const byStart = new Map<string, number[]>();
    const all = ordered.nextBatch(ordered.sequenceCount);
    // Independently: the document of stream position p is the number of separators before p.
    let seps = 0;
    const want: number[] = [];
    for (let p = 0; p < all.inputs.length; p++) {
      want.push(all.inputs[p] === PAD_ID ? P : seps);
      if (all.inputs[p] === SEP_ID) seps++;
    }
    expect(Array.from(all.docs!)).toEqual(want);
    rows(all, 'inputs').forEach((row, b) => byStart.set(String(row), rows(all, 'docs')[b]));
    rows(batch, 'inputs').forEach((row, b) => expect(rows(batch, 'docs')[b]).toEqual(byStart.get(String(row))));
  });

  it('batchOf reads sequences in order without moving the stream, and refuses to read past the end', () => {
    const ds = PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 2 });
    const ordered = PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 2, shuffle: false }).nextBatch(ds.sequenceCount);
    const n = ds.sequenceCount;
    const tail = ds.batchOf(n - 3, 3);
    expect(Array.from(tail.inputs)).toEqual(Array.from(ordered.inputs.subarray((n - 3) * 16)));
    expect(Array.from(tail.docs!)).toEqual(Array.from(ordered.docs!.subarray((n - 3) * 16)));
    expect(ds.cursor()).toMatchObject({ epoch: 0, index: 0 });
    expect(() => ds.batchOf(n - 2, 3)).toThrow(RangeError);
  });

  it('gives per-document positions, restarting at each document of a row and at each row', () => {
    const ds = PackedDataset.fromDocuments(DOCS, { seqLen: 5, seed: 0, shuffle: false });
    const batch = ds.nextBatch(3); // docs [0 0 0 0 1] [1 1 2 2 2] [2 2 P P P]
    expect(Array.from(positionsInDocuments(batch.docs!, 5))).toEqual([0, 1, 2, 3, 0, 0, 1, 0, 1, 2, 0, 1, 0, 1, 2]);
    expect(() => positionsInDocuments(batch.docs!, 4)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });

  it('is left out where each row is one document (passkey, copy)', () => {
    expect(new PasskeyDataset({ seqLen: 256, seed: 1 }).nextBatch(2).docs).toBeUndefined();
    expect(new CopyDataset(64, 1).nextBatch(2).docs).toBeUndefined();
    expect(copyBatch(64, 1, 0, 2).docs).toBeUndefined();
  });
});

describe('shuffling', () => {
  const open = (seed: number) => PackedDataset.fromDocuments(MANY, { seqLen: 16, seed });
  const firstRows = (seed: number) => rows(open(seed).nextBatch(8), 'inputs');

  it('is the same for the same seed and differs across seeds', () => {
    expect(firstRows(7)).toEqual(firstRows(7));
    expect(firstRows(7)).not.toEqual(firstRows(8));
  });

  it('visits every sequence once per epoch and reshuffles each epoch', () => {
    const ds = open(3);
    const n = ds.sequenceCount;
    const unshuffled = rows(PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 0, shuffle: false }).nextBatch(n), 'inputs').map(String);
    const epoch0 = rows(ds.nextBatch(n), 'inputs').map(String);
    const epoch1 = rows(ds.nextBatch(n), 'inputs').map(String);
    expect([...epoch0].sort()).toEqual([...unshuffled].sort());
    expect([...epoch1].sort()).toEqual([...unshuffled].sort());
    expect(epoch0).not.toEqual(unshuffled);
    expect(epoch1).not.toEqual(epoch0);
    expect(ds.cursor()).toMatchObject({ epoch: 1, index: n });
  });
});

describe('cursor', () => {
  it('restored from JSON, yields exactly the same following batches (across an epoch boundary)', () => {
    const ds = PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 11 });
    take(ds, 3, 5);
    const saved = JSON.stringify(ds.cursor());
    const expected = take(ds, 80, 5); // several epochs
    expect(ds.cursor().epoch).toBeGreaterThan(1);

    const resumed = PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 999 }); // the cursor's seed wins
    resumed.restore(parseDataCursor(JSON.parse(saved)));
    expect(expected[0].docs).toHaveLength(5 * 16);
    expect(take(resumed, 80, 5)).toEqual(expected); // inputs, targets and docs
  });

  it('refuses a cursor saved for other data or a malformed one', () => {
    const a = PackedDataset.fromDocuments(MANY, { seqLen: 16, seed: 1 });
    const b = PackedDataset.fromDocuments(MANY, { seqLen: 32, seed: 1 });
    expect(() => b.restore(a.cursor())).toThrow(expect.objectContaining({ code: 'DATA_BAD_CURSOR' }));
    const passkey = new PasskeyDataset({ seqLen: 256, seed: 1 });
    expect(() => a.restore(passkey.cursor())).toThrow(expect.objectContaining({ code: 'DATA_BAD_CURSOR' }));
    for (const bad of [null, 3, { kind: 'packed', seed: 1, epoch: -1, index: 0, fingerprint: 'x' }, { kind: 'mystery' }, { kind: 'passkey', seed: 1, split: 'test', index: 0, fingerprint: 'x' }]) {
      expect(() => parseDataCursor(bad)).toThrow(RingtrainError);
    }
  });
});

describe('openDataset', () => {
  it('opens files as packed data and "passkey" as the passkey task', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-open-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'hello there, general');
      const packed = openDataset(dir, { seqLen: 8, seed: 0 });
      expect(packed).toBeInstanceOf(PackedDataset);
      expect(packed.nextBatch(2).inputs).toHaveLength(16);
      const passkey = openDataset('passkey', { seqLen: 200, seed: 0, passkey: { keyLength: 4 } });
      expect(passkey).toBeInstanceOf(PasskeyDataset);
      expect(passkey.cursor()).toMatchObject({ kind: 'passkey', split: 'train', index: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
