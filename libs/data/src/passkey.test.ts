import { RingtrainError } from '@ringtrain/core';
import { isHeldOutKey, passkeyAccuracy, passkeyBatch, passkeyConfig, passkeyMinSeqLen, passkeySample, scorePasskey, type PasskeyConfig } from './passkey';
import { PasskeyDataset } from './passkey-dataset';
import { decode, IGNORE_TARGET } from './tokenizer';

/** The S + 1 tokens of a sample: inputs then the last target. */
function fullText(s: { inputs: Int32Array; targets: Int32Array }): string {
  return decode([...s.inputs, s.targets[s.targets.length - 1]]);
}

const keysOf = (config: PasskeyConfig, seed: number, split: 'train' | 'eval', n: number) =>
  Array.from({ length: n }, (_, index) => passkeySample(config, { seed, split, index }).key);

describe('passkey samples', () => {
  it.each([passkeyMinSeqLen(5), 128, 257, 1000, 4096])('are exactly S + 1 tokens, ending with the key as the answer (S=%i)', (seqLen) => {
    const config = passkeyConfig({ seqLen });
    for (let index = 0; index < 5; index++) {
      const s = passkeySample(config, { seed: 1, split: 'train', index });
      expect(s.inputs).toHaveLength(seqLen);
      expect(s.targets).toHaveLength(seqLen);
      expect(Array.from(s.targets.subarray(0, seqLen - 1))).toEqual(Array.from(s.inputs.subarray(1))); // next-token targets throughout
      expect(s.key).toMatch(/^[1-9]\d{4}$/);
      expect(Array.from(s.answerPositions)).toEqual([0, 1, 2, 3, 4].map((j) => seqLen - 5 + j));
      expect(decode(Array.from(s.answerPositions, (p) => s.targets[p]))).toBe(s.key);
      const text = fullText(s);
      expect(text.endsWith(`What is the pass key? The pass key is ${s.key}`)).toBe(true);
      expect(text).toContain(`The pass key is ${s.key}. Remember it. ${s.key} is the pass key.`);
      // The key is the only number in the sample.
      expect(text.match(/\d+/g)).toEqual([s.key, s.key, s.key]);
    }
  });

  it('states the key early: within the first keyDepth fraction, on the first of 4 contiguous shards', () => {
    const seqLen = 4096;
    const config = passkeyConfig({ seqLen, keyDepth: [0, 0.15] });
    let latest = 0;
    for (let index = 0; index < 40; index++) {
      const s = passkeySample(config, { seed: 5, split: 'train', index });
      expect(decode(s.inputs.subarray(s.keyPosition, s.keyPosition + 5))).toBe(s.key);
      expect(s.keyPosition).toBeLessThanOrEqual(0.15 * (seqLen + 1) + 16);
      latest = Math.max(latest, s.keyPosition + 5);
    }
    expect(latest).toBeLessThan(seqLen / 4);
    expect(latest).toBeGreaterThan(100); // depth varies, not always at 0
  });

  it('places the key at a sentence start, after filler when the depth is past 0', () => {
    const config = passkeyConfig({ seqLen: 2000, keyDepth: [0.1, 0.1] });
    const s = passkeySample(config, { seed: 2, split: 'train', index: 0 });
    const text = fullText(s);
    expect(s.keyPosition).toBeGreaterThan(150);
    expect(text.slice(s.keyPosition - 18, s.keyPosition - 16)).toBe('. ');
  });

  it('is deterministic by (seed, split, index), in any access order', () => {
    const config = passkeyConfig({ seqLen: 300 });
    const a = passkeySample(config, { seed: 9, split: 'train', index: 17 });
    keysOf(config, 9, 'train', 20);
    expect(passkeySample(config, { seed: 9, split: 'train', index: 17 })).toEqual(a);
    expect(keysOf(config, 9, 'train', 30)).not.toEqual(keysOf(config, 10, 'train', 30));
  });

  it('draws different keys across samples', () => {
    const keys = keysOf(passkeyConfig({ seqLen: 200 }), 0, 'train', 100);
    expect(new Set(keys).size).toBeGreaterThan(95);
  });

  it('never shows an eval key in training, whatever the seeds', () => {
    for (const keyLength of [2, 5]) {
      const config = passkeyConfig({ seqLen: 200, keyLength });
      const train = new Set([0, 1, 2].flatMap((seed) => keysOf(config, seed, 'train', 300)));
      const held = new Set([0, 1, 2].flatMap((seed) => keysOf(config, seed, 'eval', 100)));
      expect(held.size).toBeGreaterThan(1);
      for (const k of held) {
        expect(isHeldOutKey(k)).toBe(true);
        expect(train.has(k)).toBe(false);
      }
      for (const k of train) expect(isHeldOutKey(k)).toBe(false);
    }
  });

  it('varies the filler with filler "random", and can score only the answer', () => {
    const cycle = passkeySample(passkeyConfig({ seqLen: 600, keyDepth: [0, 0] }), { seed: 3, split: 'train', index: 0 });
    expect(fullText(cycle)).toMatch(/^The pass key is \d+\. Remember it\. \d+ is the pass key\. \S/);
    const random = passkeyConfig({ seqLen: 600, filler: 'random', fillerSentences: ['Red.', 'Green.', 'Blue.'] });
    const text = fullText(passkeySample(random, { seed: 3, split: 'train', index: 0 }));
    expect(text).not.toMatch(/(Red\. Green\. Blue\. ){10}/);
    expect(text).toMatch(/Red\./);

    const answerOnly = passkeySample(passkeyConfig({ seqLen: 300, lossOn: 'answer' }), { seed: 3, split: 'train', index: 0 });
    const scored = Array.from(answerOnly.targets.keys()).filter((p) => answerOnly.targets[p] !== IGNORE_TARGET);
    expect(scored).toEqual(Array.from(answerOnly.answerPositions));
  });

  it('refuses options that cannot work', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as RingtrainError).code;
      }
      return 'no error';
    };
    expect(code(() => passkeyConfig({ seqLen: passkeyMinSeqLen(5) - 1 }))).toBe('PASSKEY_SEQ_TOO_SHORT');
    expect(code(() => passkeyConfig({ seqLen: 500, keyLenght: 4 } as never))).toBe('BAD_OPTION');
    expect(code(() => passkeyConfig({ seqLen: 500, keyLength: 1 }))).toBe('BAD_OPTION');
    expect(code(() => passkeyConfig({ seqLen: 500, keyDepth: [0.5, 0.2] }))).toBe('BAD_OPTION');
    expect(code(() => passkeyConfig({ seqLen: 500, fillerSentences: ['Route 66 is long.'] }))).toBe('BAD_OPTION');
  });
});

describe('passkey scoring and streams', () => {
  it('scores a sample by its answer digits only', () => {
    const s = passkeySample(passkeyConfig({ seqLen: 256 }), { seed: 4, split: 'eval', index: 0 });
    expect(scorePasskey(s.targets, s)).toEqual({ correct: true, digitsCorrect: 5, digits: 5 });
    const wrong = s.targets.slice();
    wrong[s.answerPositions[2]] = wrong[s.answerPositions[2]] === 48 ? 49 : 48; // a different digit
    wrong[0] = 0; // a filler mistake does not count
    expect(scorePasskey(wrong, s)).toEqual({ correct: false, digitsCorrect: 4, digits: 5 });
  });

  it('computes passkey accuracy of a batch from argmax predictions', () => {
    const batch = passkeyBatch({ seqLen: 256, batchSize: 4, seed: 0, index: 0, split: 'eval' });
    const predicted = batch.targets.slice();
    expect(passkeyAccuracy(predicted, batch)).toEqual({ accuracy: 1, digitAccuracy: 1, correct: 4, samples: 4 });
    const S = batch.seqLen;
    predicted[1 * S + batch.answerPositions[1][0]] = 0;
    predicted[3 * S + batch.answerPositions[3][4]] = 0;
    expect(passkeyAccuracy(predicted, batch)).toEqual({ accuracy: 0.5, digitAccuracy: 18 / 20, correct: 2, samples: 4 });
    expect(() => passkeyAccuracy(predicted.subarray(1), batch)).toThrow(/expected batchSize 4/);
  });

  it('batches match the samples, and a restored dataset yields the same next batches', () => {
    const ds = new PasskeyDataset({ seqLen: 300, seed: 6 });
    ds.nextBatch(3);
    const saved = JSON.parse(JSON.stringify(ds.cursor()));
    const expected = [ds.nextBatch(2), ds.nextBatch(4)];
    expect(expected[0].keys[0]).toBe(passkeySample(ds.config, { seed: 6, split: 'train', index: 3 }).key);

    const resumed = new PasskeyDataset({ seqLen: 300, seed: 0 });
    resumed.restore(saved);
    expect([resumed.nextBatch(2), resumed.nextBatch(4)]).toEqual(expected);
    expect(() => new PasskeyDataset({ seqLen: 300, seed: 6, keyLength: 6 }).restore(saved)).toThrow(expect.objectContaining({ code: 'DATA_BAD_CURSOR' }));
    expect(() => new PasskeyDataset({ seqLen: 300, seed: 6, split: 'eval' }).restore(saved)).toThrow(expect.objectContaining({ code: 'DATA_BAD_CURSOR' }));
  });
});
