import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTrainConfig } from '@ringtrain/config';
import { PackedDataset, SEP_ID, type PackedDataset as Packed } from '@ringtrain/data';
import type { Layout } from '@ringtrain/layout';
import type { TokenBatch } from '../world/replicas';
import { checkEvalSamples, evaluate, heldOutEvalSource, modelBatch, openRunData, packedEvalSource } from './evaluate';

/** A stand-in per-target loss (nats): any fixed function of the target id will do. */
const nats = (t: number) => (t === SEP_ID ? 5 : 0.5 + (t % 13) / 4);

/** Replicas whose eval-step returns what the workers return: the batch's mean loss over its targets ≠ −1, and argmax = the targets. */
function fakeReplicas() {
  const calls: TokenBatch[] = [];
  return {
    calls,
    async evaluate(_layout: Layout, batch: TokenBatch) {
      calls.push(batch);
      let sum = 0;
      let n = 0;
      for (const t of batch.targets) {
        if (t < 0) continue;
        sum += nats(t);
        n++;
      }
      return { loss: sum / Math.max(1, n), predictions: Int32Array.from(batch.targets) };
    },
  };
}

const layout = {} as Layout;

/** Independently: over every target of every sequence one at a time. */
function reference(ds: Packed, sequences: number) {
  let sum = 0;
  let n = 0;
  let byteSum = 0;
  let bytes = 0;
  for (let k = 0; k < sequences; k++) {
    for (const t of ds.batchOf(k, 1).targets) {
      if (t < 0) continue;
      sum += nats(t);
      n++;
      if (t < 256) {
        byteSum += nats(t);
        bytes++;
      }
    }
  }
  return { loss: sum / n, tokens: n, bitsPerByte: byteSum / Math.LN2 / bytes, bytes };
}

describe('evaluate', () => {
  // 3 documents, 2 separators; at S = 16 the stream of 56 tokens makes 4 sequences, the last padded.
  const docs = ['the first document, long enough', 'second', 'and the third one'];
  const ds = PackedDataset.fromDocuments(docs, { seqLen: 16, seed: 0, shuffle: false });
  const source = packedEvalSource(ds, 'three documents');

  it('reports the mean over all scored tokens, not the mean of per-batch means (a padded last batch)', async () => {
    expect(ds.sequenceCount).toBe(4);
    const replicas = fakeReplicas();
    // Batches of 3: sequences 0–2 (48 targets), then sequence 3 alone, mostly padding.
    const r = await evaluate(replicas, layout, source, { step: 7, samples: 4, batchSize: 3, prevLags: 0 });
    const want = reference(ds, 4);
    expect(r.tokens).toBe(want.tokens);
    expect(r.tokens).toBe(ds.tokenCount - 1); // every token after the first is a target once
    expect(r.loss).toBeCloseTo(want.loss, 12);
    const batchMean = (first: number, count: number) => {
      const targets = Array.from(ds.batchOf(first, count).targets).filter((t) => t >= 0);
      return targets.reduce((a, t) => a + nats(t), 0) / targets.length;
    };
    expect(Array.from(ds.batchOf(3, 1).targets).filter((t) => t >= 0)).toHaveLength(7); // the padded last batch
    const meanOfMeans = (batchMean(0, 3) + batchMean(3, 1)) / 2;
    expect(Math.abs(meanOfMeans - want.loss)).toBeGreaterThan(0.01); // the two readings differ here
    expect(r).toMatchObject({ step: 7, sequences: 4, samples: 4, data: 'three documents' });
    expect(r.passkeyAccuracy).toBeUndefined();
  });

  it('gives bits per byte over byte targets only, scoring a batch with <|sep|> targets again without them', async () => {
    const replicas = fakeReplicas();
    const r = await evaluate(replicas, layout, source, { step: 1, samples: 4, batchSize: 1, prevLags: 0 });
    const want = reference(ds, 4);
    expect(r.byteTokens).toBe(want.bytes);
    expect(r.byteTokens).toBe(r.tokens - 2); // the two separators
    expect(r.bitsPerByte).toBeCloseTo(want.bitsPerByte, 12);
    expect(r.loss).toBeCloseTo(want.loss, 12);
    // Sequences holding a separator target are scored twice, the second time with it masked.
    const withSep = [0, 1, 2, 3].filter((k) => ds.batchOf(k, 1).targets.includes(SEP_ID));
    expect(replicas.calls).toHaveLength(4 + withSep.length);
    expect(withSep.length).toBeGreaterThan(0);
    expect(replicas.calls.filter((c) => c.targets.includes(SEP_ID))).toHaveLength(withSep.length);
  });

  it('scores the first N sequences only, and refuses more than the data holds, saying how many it holds', async () => {
    const r = await evaluate(fakeReplicas(), layout, source, { step: 0, samples: 2, batchSize: 2, prevLags: 0 });
    expect(r.tokens).toBe(32);
    expect(r.loss).toBeCloseTo(reference(ds, 2).loss, 12);
    await expect(evaluate(fakeReplicas(), layout, source, { step: 0, samples: 5, batchSize: 2, prevLags: 0, samplesOption: '--samples' })).rejects.toMatchObject({
      code: 'HELD_OUT_TOO_SMALL',
      message: expect.stringContaining('holds 4 sequences of 16 tokens, fewer than the 5 asked for'),
      hint: expect.stringContaining('--samples 4 or fewer'),
    });
  });

  it('reports passkey accuracy on passkey data', async () => {
    const cfg = resolveTrainConfig({ seqLen: 128, batchSize: 2 }, {}, 'runs/x');
    const passkey = heldOutEvalSource(cfg)!;
    expect(passkey.sequences).toBe(Infinity);
    const r = await evaluate(fakeReplicas(), layout, passkey, { step: 3, samples: 3, batchSize: 2, prevLags: 0 });
    expect(r).toMatchObject({ passkeyAccuracy: 1, digitAccuracy: 1, sequences: 3 });
    expect(r.bitsPerByte).not.toBeNull();
  });
});

describe('modelBatch', () => {
  const ds = PackedDataset.fromDocuments(['abc', 'de', 'fghij'], { seqLen: 5, seed: 0, shuffle: false });
  const batch = ds.nextBatch(3);

  it('hands the replicas the documents only where the model uses them', () => {
    expect(modelBatch(batch, { docMask: false, positions: 'global' })).toEqual({ inputs: batch.inputs, targets: batch.targets, batchSize: 3 });
    expect(modelBatch(batch, { docMask: true, positions: 'global' })).toEqual({ inputs: batch.inputs, targets: batch.targets, batchSize: 3, docs: batch.docs });
    const perDoc = modelBatch(batch, { docMask: true, positions: 'per-document' });
    expect(Array.from(perDoc.ropePos!)).toEqual([0, 1, 2, 3, 0, 0, 1, 0, 1, 2, 0, 1, 0, 1, 2]);
    const passkey = heldOutEvalSource(resolveTrainConfig({ seqLen: 128, docMask: 'on', positions: 'per-document' }, {}, 'runs/x'))!.batch(0, 2);
    expect(Object.keys(modelBatch(passkey, { docMask: true, positions: 'per-document' })).sort()).toEqual(['batchSize', 'inputs', 'targets']);
  });

  it('evaluation passes them through, to both passes of a batch with separators', async () => {
    const replicas = fakeReplicas();
    await evaluate(replicas, layout, packedEvalSource(ds, 'x'), { step: 0, samples: 3, batchSize: 3, prevLags: 0, documents: { docMask: true, positions: 'per-document' } });
    expect(replicas.calls).toHaveLength(2);
    for (const c of replicas.calls) expect([c.docs, c.ropePos].map((a) => a && Array.from(a))).toEqual([Array.from(batch.docs!), [0, 1, 2, 3, 0, 0, 1, 0, 1, 2, 0, 1, 0, 1, 2]]);
  });
});

describe('the held-out data of a run', () => {
  const root = mkdtempSync(join(tmpdir(), 'ringtrain-eval-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'corpus');
  mkdirSync(dir);
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, `d${String(i).padStart(2, '0')}.txt`), `document ${i}: ${'words '.repeat(10)}`);

  it('is what training leaves out, scored in order; evalSamples beyond it is refused before training', () => {
    const cfg = resolveTrainConfig({ data: dir, seqLen: 32, valFraction: 0.1, evalSamples: 2 }, {}, 'runs/x');
    const { datasets, eval: heldOut } = openRunData(cfg);
    expect((datasets[0] as PackedDataset).documentCount).toBe(27);
    expect(heldOut!.description).toBe(`held-out: 3 of 30 documents of ${dir} (valFraction 0.1)`);
    const alone = heldOutEvalSource(cfg)!;
    expect(alone.sequences).toBe(heldOut!.sequences);
    expect(alone.batch(0, alone.sequences)).toEqual(heldOut!.batch(0, heldOut!.sequences));
    expect(() => checkEvalSamples(heldOut!, heldOut!.sequences + 1, '--eval-samples')).toThrow(expect.objectContaining({ code: 'HELD_OUT_TOO_SMALL' }));
  });

  it('is missing for a single document, and valData replaces the split', () => {
    const one = join(root, 'one.txt');
    writeFileSync(one, 'just one document here, nothing to hold out');
    expect(openRunData(resolveTrainConfig({ data: one, seqLen: 8 }, {}, 'runs/x')).eval).toBeNull();
    const cfg = resolveTrainConfig({ data: one, valData: join(dir, 'd00.txt'), seqLen: 8 }, {}, 'runs/x');
    const { datasets, eval: heldOut } = openRunData(cfg);
    expect((datasets[0] as PackedDataset).documentCount).toBe(1);
    expect(heldOut!.description).toMatch(/^held-out: 1 documents of .*d00\.txt$/);
  });
});
