import { RingtrainError } from '@ringtrain/core';
import { COPY_MIN_PERIOD, CopyDataset, copySample } from './copy-dataset';
import { parseDataCursor } from './dataset';
import { openDataset } from './open-dataset';
import { IGNORE_TARGET } from './tokenizer';

describe('copy task', () => {
  it.each([24, 128, 257, 4096])('repeats one random printable block; every target after the first cycle is the token one period back (S=%i)', (S) => {
    const periods = new Set<number>();
    for (let index = 0; index < 30; index++) {
      const s = copySample(S, 3, index);
      periods.add(s.period);
      expect(s.period).toBeGreaterThanOrEqual(Math.min(COPY_MIN_PERIOD, S));
      expect(s.period).toBeLessThanOrEqual(Math.max(COPY_MIN_PERIOD, S / 3) + 1);
      expect(s.inputs.every((t) => t >= 33 && t <= 126)).toBe(true);
      const block = Array.from(s.inputs.subarray(0, s.period));
      expect(Array.from(s.inputs)).toEqual(Array.from({ length: S }, (_, j) => block[j % s.period]));
      expect(Array.from(s.targets)).toEqual(Array.from({ length: S }, (_, j) => (j + 1 < s.period ? IGNORE_TARGET : block[(j + 1) % s.period])));
    }
    if (S >= 128) expect(periods.size).toBeGreaterThan(5); // periods vary per sample
  });

  it('draws digits too, so the copy it teaches covers passkey keys', () => {
    const seen = new Set<number>();
    for (let index = 0; index < 20; index++) for (const t of copySample(256, 1, index).inputs) seen.add(t);
    for (let digit = 48; digit <= 57; digit++) expect(seen.has(digit)).toBe(true);
  });

  it('is deterministic by (seed, index); a restored stream yields the same next batches', () => {
    expect(copySample(128, 5, 7)).toEqual(copySample(128, 5, 7));
    expect(copySample(128, 5, 7).inputs).not.toEqual(copySample(128, 6, 7).inputs);
    const a = openDataset('copy', { seqLen: 128, seed: 5 });
    expect(a).toBeInstanceOf(CopyDataset);
    a.nextBatch(3);
    const saved = JSON.stringify(a.cursor());
    const next = a.nextBatch(2);
    const b = new CopyDataset(128, 9);
    b.restore(parseDataCursor(JSON.parse(saved)));
    expect(b.nextBatch(2)).toEqual(next);
    expect(next.inputs.subarray(0, 128)).toEqual(copySample(128, 5, 3).inputs);
    expect(() => new CopyDataset(256, 5).restore(parseDataCursor(JSON.parse(saved)))).toThrow(/S=128/);
    expect(() => new CopyDataset(0, 5)).toThrow(RingtrainError);
  });
});
