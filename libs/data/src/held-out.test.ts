import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VAL_FRACTION, heldOutCount, HELD_OUT_SEED, loadSplitSource, openDataSplit, splitDocuments } from './held-out';
import { openDataset } from './open-dataset';
import type { PackedDataset } from './packed-dataset';
import { decode } from './tokenizer';

let root: string;
const quiet = { warn: () => undefined };
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ringtrain-heldout-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A folder of `n` text files doc-00.txt … each holding a unique marker. */
function corpus(name: string, n: number, text = (i: number) => `<doc ${String(i).padStart(2, '0')}> ${'lorem ipsum '.repeat(3)}`): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `doc-${String(i).padStart(2, '0')}.txt`), text(i));
  return dir;
}

/** Every token of every sequence of an epoch of `ds`, decoded. */
function epochText(ds: PackedDataset): string {
  return decode(ds.nextBatch(ds.sequenceCount).inputs);
}

describe('the held-out split of file data', () => {
  it('is pinned: which documents are held out for a given count, fraction and seed', () => {
    expect(HELD_OUT_SEED).toBe(0x68656c64);
    const ten = splitDocuments(10, 0.2);
    expect(Array.from(ten.heldOut)).toEqual([2, 6]);
    expect(Array.from(ten.train)).toEqual([0, 1, 3, 4, 5, 7, 8, 9]);
    expect(Array.from(splitDocuments(250, DEFAULT_VAL_FRACTION).heldOut)).toEqual([93, 133, 163]); // round(2.5) = 3
    expect(Array.from(splitDocuments(10, 0.2, 7).heldOut)).toEqual([5, 6]); // another seed, another split
  });

  it('holds out round(fraction · n) documents, at least one and never all (none of a single document)', () => {
    expect([1, 2, 3, 99, 100, 150, 1000].map((n) => heldOutCount(n, 0.01))).toEqual([0, 1, 1, 1, 1, 2, 10]);
    expect(heldOutCount(5, 0.99)).toBe(4);
    expect(heldOutCount(10, 0.5)).toBe(5);
    for (const bad of [0, 1, -0.1, 1.5, NaN]) expect(() => heldOutCount(10, bad)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });

  it('puts every document in exactly one part, each part in data order, the same on every call', () => {
    for (const n of [2, 7, 64, 301]) {
      const { train, heldOut } = splitDocuments(n, 0.1);
      expect([...train, ...heldOut].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(Array.from(train)).toEqual([...train].sort((a, b) => a - b));
      expect(Array.from(heldOut)).toEqual([...heldOut].sort((a, b) => a - b));
      expect(splitDocuments(n, 0.1)).toEqual({ train, heldOut });
    }
  });

  it('training never reads a held-out document; the held-out part packs them in order', () => {
    const dir = corpus('twenty', 20);
    // Unshuffled, so the rows of an epoch read back as the stream and no marker is cut across rows.
    const { source, train, heldOut } = openDataSplit([dir], { seqLen: 32, seed: 3, shuffle: false, valFraction: 0.1, warnings: quiet });
    expect(Array.from(source.heldOutIndices!)).toEqual(Array.from(splitDocuments(20, 0.1).heldOut));
    const heldNames = Array.from(source.heldOutIndices!, (i) => `<doc ${String(i).padStart(2, '0')}>`);
    expect(source.heldOut.map((d) => d.origin)).toEqual(Array.from(source.heldOutIndices!, (i) => join(dir, `doc-${String(i).padStart(2, '0')}.txt`)));
    expect(source.description).toBe(`2 of 20 documents of ${dir} (valFraction 0.1)`);
    const trained = epochText(train);
    for (let i = 0; i < 20; i++) {
      const marker = `<doc ${String(i).padStart(2, '0')}>`;
      expect(trained.includes(marker)).toBe(!heldNames.includes(marker));
    }
    // openDataset (what every training stage opens) excludes the same documents.
    const opened = openDataset(dir, { seqLen: 32, seed: 3, heldOut: { valFraction: 0.1 }, warnings: quiet }) as PackedDataset;
    expect(opened.documentCount).toBe(18);
    const held = decode(heldOut!.batchOf(0, heldOut!.sequenceCount).inputs);
    expect(held.replace(/(<\|pad\|>)+$/, '')).toBe(source.heldOut.map((d) => decode(d.tokens)).join('<|sep|>'));
  });

  it('with valData, trains on all the data and holds out the named files; a file in both is refused', () => {
    const dir = corpus('all', 5);
    const val = corpus('val', 2, (i) => `validation ${i}`);
    const split = loadSplitSource([dir], { valData: [val], warnings: quiet });
    expect(split.train).toHaveLength(5);
    expect(split.heldOut.map((d) => decode(d.tokens))).toEqual(['validation 0', 'validation 1']);
    expect(split.heldOutIndices).toBeNull();
    expect(() => loadSplitSource([dir], { valData: [join(dir, 'doc-03.txt')], warnings: quiet })).toThrow(expect.objectContaining({ code: 'DATA_HELD_OUT_OVERLAP', message: expect.stringContaining('doc-03.txt') }));
  });

  it('holds nothing out of a single document', () => {
    const split = openDataSplit([corpus('one', 1)], { seqLen: 8, seed: 0, warnings: quiet });
    expect(split.heldOut).toBeNull();
    expect(split.train.documentCount).toBe(1);
  });
});
