import { RingtrainError } from '@ringtrain/core';
import {
  MAX_TOKENS,
  PROCESS_OVERHEAD_BYTES,
  TRAIN_KNOB_NAMES,
  assertAttentionCheckFits,
  assertRunFits,
  estimateAttentionCheckMemory,
  estimateRunMemory,
  estimateTrainCheckMemory,
  fitsMemory,
  largestFitting,
  modelParamCount,
  runKnobs,
  type RunShape,
} from './memory-estimate';
import { MODEL_PRESETS, type ModelConfig } from './model';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const model = (preset: keyof typeof MODEL_PRESETS, over: Partial<ModelConfig> = {}): ModelConfig => ({ vocabSize: 258, ...MODEL_PRESETS[preset], ...over });
const run = (over: Partial<RunShape> & { seqLen?: number; batchSize?: number } = {}): RunShape => {
  const { seqLen = 4096, batchSize = 1, ...rest } = over;
  return { workers: 2, strategy: 'striped', model: model('tiny'), backend: 'native', stages: [{ seqLen, batchSize }], ...rest };
};
const part = (r: RunShape, name: string, mode: 'train' | 'eval' = 'train') => estimateRunMemory(r, mode).parts[name];

describe('the parameter count', () => {
  it('counts the embedding, the previous-token maps, every layer and the final norm', () => {
    // small: 258·256 + 4·(2·256 + 256·(4+8)·64 + 4·64·256 + 2·256·1024) + 256
    expect(modelParamCount(model('small'))).toBe(3_214_080);
    // passkey: prevTokenEmbed 4 adds four d×d maps
    expect(modelParamCount(model('passkey')) - modelParamCount(model('passkey', { prevTokenEmbed: 0 }))).toBe(4 * 64 * 64);
    // GQA: fewer K/V heads, smaller wk and wv
    expect(modelParamCount(model('small')) - modelParamCount(model('small', { kvHeads: 1 }))).toBe(4 * 2 * 256 * 3 * 64);
  });
});

describe('estimateRunMemory', () => {
  it('holds parameters, gradients and AdamW state (5 copies of fp32) on every worker, 2 for eval', () => {
    const r = run({ model: model('small') });
    expect(part(r, 'parameters and optimizer state')).toBe(5 * 4 * modelParamCount(r.model));
    expect(part(r, 'parameters and optimizer state', 'eval')).toBe(2 * 4 * modelParamCount(r.model));
    expect(part({ ...r, workers: 8, seqLen: 4096 } as RunShape, 'parameters and optimizer state')).toBe(5 * 4 * modelParamCount(r.model)); // replicated, not split
    expect(estimateRunMemory(r).parts.process).toBe(PROCESS_OVERHEAD_BYTES);
  });

  it('grows the blockwise strategies\' activations linearly in seqLen and batch, and splits them over the workers', () => {
    for (const strategy of ['ring', 'striped', 'zigzag', 'ulysses']) {
      const at = (seqLen: number, batchSize = 1, workers = 2) => part(run({ strategy, seqLen, batchSize, workers }), 'activations');
      expect(at(8192) / at(4096)).toBeCloseTo(2, 5);
      expect(at(4096, 2) / at(4096)).toBeCloseTo(2, 5);
      // Ulysses replicates K/V heads when there are fewer than P (tiny has 2): a little more than half.
      expect(at(8192, 1, 4) / at(8192, 1, 2)).toBeGreaterThanOrEqual(0.5);
      expect(at(8192, 1, 4) / at(8192, 1, 2)).toBeLessThan(strategy === 'ulysses' ? 0.6 : 0.51);
    }
  });

  it('grows rsa\'s stored probabilities as S²/P', () => {
    const at = (seqLen: number) => part(run({ strategy: 'rsa', seqLen }), 'activations');
    expect(at(65536) / at(32768)).toBeGreaterThan(3.9);
    expect(at(65536) / at(32768)).toBeLessThanOrEqual(4);
    expect(at(65536)).toBeGreaterThan(100 * part(run({ strategy: 'ring', seqLen: 65536 }), 'activations'));
  });

  it('keeps no S×S block with the tiled kernels; the plain tfjs kernel (cpu) holds one block\'s scores', () => {
    const big = { seqLen: 65536, model: model('small') };
    expect(part(run({ ...big, backend: 'cpu' }), 'workspace')).toBeGreaterThan(4 * 4 * 4 * 32768 ** 2 * 0.99); // 4 arrays of [B·H, S/P, S/P]
    expect(part(run({ ...big, backend: 'native' }), 'workspace')).toBeLessThan(GiB);
    expect(part(run({ ...big, backend: 'auto' }), 'workspace')).toBe(part(run({ ...big, backend: 'native' }), 'workspace'));
  });

  it('counts only the host part under webgpu (activations live on the GPU)', () => {
    const e = estimateRunMemory(run({ backend: 'webgpu', seqLen: 1 << 20 }));
    expect(e.parts.activations).toBe(0);
    expect(e.perWorkerBytes).toBe(PROCESS_OVERHEAD_BYTES + 5 * 4 * modelParamCount(model('tiny')));
  });

  it('takes the stage with the largest need', () => {
    const r = run({ stages: [{ seqLen: 65536, batchSize: 4 }, { seqLen: 1024, batchSize: 1 }] });
    expect(estimateRunMemory(r).perWorkerBytes).toBe(estimateRunMemory(run({ seqLen: 65536, batchSize: 4 })).perWorkerBytes);
  });

  it('keeps one layer in eval (forward only): less than training', () => {
    const r = run({ model: model('small'), seqLen: 65536 });
    expect(part(r, 'activations', 'eval')).toBeCloseTo(part(r, 'activations') / r.model.layers, 0);
    expect(estimateRunMemory(r, 'eval').perWorkerBytes).toBeLessThan(estimateRunMemory(r).perWorkerBytes);
  });

  // Peak RSS per worker measured by `bench train` on the 2-vCPU, 24 GiB reference VM (benchmarks/NOTES.md, and 2026-12-05).
  it.each<[string, Partial<RunShape> & { seqLen: number }, number]>([
    ['small, P=4, S=65536', { model: model('small'), workers: 4, seqLen: 65536 }, 1.6 * GiB],
    ['small, P=2, S=8192', { model: model('small'), seqLen: 8192 }, 580 * MiB],
    ['tiny, P=2, S=65536', { seqLen: 65536 }, 385 * MiB],
    ['tiny rsa, P=2, S=4096', { strategy: 'rsa', seqLen: 4096 }, 890 * MiB],
  ])('is within a factor 1.5 of the measured peak: %s', (_name, shape, measured) => {
    const estimate = estimateRunMemory(run(shape)).perWorkerBytes;
    expect(estimate / measured).toBeGreaterThan(1 / 1.5);
    expect(estimate / measured).toBeLessThan(1.5);
  });
});

describe('assertRunFits', () => {
  const machine = 16 * GiB;

  it('passes what fits and refuses what does not with WONT_FIT, the estimate per worker and the machine\'s memory', () => {
    expect(() => assertRunFits('train', run(), 'train', TRAIN_KNOB_NAMES, machine)).not.toThrow();
    const r = run({ seqLen: 1e8 });
    let err: RingtrainError | undefined;
    try {
      assertRunFits('train', r, 'train', TRAIN_KNOB_NAMES, machine);
    } catch (e) {
      err = e as RingtrainError;
    }
    expect(err).toBeInstanceOf(RingtrainError);
    expect(err!.code).toBe('WONT_FIT');
    expect(err!.message).toMatch(/train at seq-len 100000000 × batch 1 .* needs about [\d.,]+ GiB per worker \(process 200 MiB, .*activations .*\), but this machine has 16.0 GiB of memory: after .* for `train` and the coordinator, [\d.]+ GiB for each of 2 workers/);
    // The hint names the longest sequence that fits, and it does fit (one more token would not).
    const best = Number(/--seq-len (\d+)/.exec(err!.hint!)![1]);
    expect(fitsMemory(estimateRunMemory(run({ seqLen: best })), machine)).toBe(true);
    expect(fitsMemory(estimateRunMemory(run({ seqLen: best + 1 })), machine)).toBe(false);
  });

  it('names the batch size, the workers or the layers that fit, as the command calls them', () => {
    const batch = () => assertRunFits('train', run({ seqLen: 1024, batchSize: 1_000_000 }), 'train', TRAIN_KNOB_NAMES, machine);
    expect(batch).toThrow(expect.objectContaining({ code: 'WONT_FIT', hint: expect.stringMatching(/--batch-size \d+/) }));
    const workers = () => assertRunFits('train', run({ workers: 1000 }), 'train', TRAIN_KNOB_NAMES, machine);
    expect(workers).toThrow(expect.objectContaining({ hint: expect.stringMatching(/--workers \d+/) }));
    const deep = () => assertRunFits('train', run({ model: model('small', { dModel: 4096, layers: 64 }) }), 'train', TRAIN_KNOB_NAMES, machine);
    expect(deep).toThrow(expect.objectContaining({ message: expect.stringMatching(/parameters and optimizer state [\d.]+ GiB/), hint: expect.stringMatching(/--model <preset>,layers=\d+/) }));
    const resume = () => assertRunFits('resume', run({ seqLen: 1e8 }), 'train', { seqLen: () => null, batchSize: () => null, workers: '--workers', layers: null }, machine);
    expect(resume).toThrow(expect.objectContaining({ hint: expect.not.stringMatching(/--seq-len/) }));
  });

  it('offers nothing below 256 tokens as a sequence length', () => {
    const knob = runKnobs(run({ seqLen: 1024, batchSize: 1e7 }), 'train', TRAIN_KNOB_NAMES).find((k) => k.option === '--seq-len')!;
    expect(knob.min).toBe(256);
    expect(largestFitting(knob, machine)).toBeNull();
  });
});

describe('the check estimates', () => {
  it('count the single-process reference of check --train, whose plain attention keeps [B, H, S, S]', () => {
    const r = run({ seqLen: 8192, batchSize: 2 });
    const e = estimateTrainCheckMemory(r, ['ring']);
    expect(e.besideBytes).toBeGreaterThan(3 * 4 * 2 * 2 * 2 * 8192 ** 2); // 3 · L·B·H·S² floats
    expect(estimateTrainCheckMemory(run({ seqLen: 16384, batchSize: 2 }), ['ring']).besideBytes / e.besideBytes).toBeGreaterThan(3.5);
    expect(estimateTrainCheckMemory(r, ['ring', 'rsa']).perWorkerBytes).toBe(estimateRunMemory({ ...r, strategy: 'rsa' }).perWorkerBytes);
  });

  it('refuse an attention check that will not fit, and say when leaving rsa out would', () => {
    const p = { seqLen: 1_000_000, heads: 4, kvHeads: 4, headDim: 16, workers: 2, strategies: ['ring', 'rsa'], backend: 'native' as const };
    expect(() => assertAttentionCheckFits(p, 64 * GiB)).toThrow(expect.objectContaining({ code: 'WONT_FIT', hint: expect.stringMatching(/--seq-len \d+; or leave rsa .* out: --strategies ring/) }));
    expect(() => assertAttentionCheckFits({ ...p, strategies: ['ring'] }, 64 * GiB)).not.toThrow();
    expect(estimateAttentionCheckMemory({ ...p, seqLen: 256 }).perWorkerBytes).toBeLessThan(PROCESS_OVERHEAD_BYTES + 8 * MiB);
  });

  it('refuse more than 2^31 tokens outright', () => {
    const p = { seqLen: MAX_TOKENS + 1, heads: 1, kvHeads: 1, headDim: 2, workers: 2, strategies: ['ring'], backend: 'native' as const };
    expect(() => assertAttentionCheckFits(p, 2 ** 60)).toThrow(/more than the 2147483648 tokens a sequence or a step can hold/);
  });
});
