import { flopsCounter, trainStepFlops } from './flops';

const model = { vocabSize: 258, dModel: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, mlpRatio: 4, prevTokenEmbed: 0 };

describe('model FLOPs per step', () => {
  it('counts 3 × (2 × weights × tokens + causal attention), as `bench train` does', () => {
    const S = 128;
    const B = 2;
    const weights = 2 * (64 * (4 + 2 * 2) * 16 + 4 * 16 * 64 + 2 * 64 * 4 * 64) + 258 * 64;
    const attention = 2 * B * 2 * S * S * 4 * 16;
    expect(trainStepFlops(model, S, B)).toBe(3 * (2 * S * B * weights + attention));
  });

  it('adds the previous-token maps, and is null without the model size', () => {
    expect(trainStepFlops({ ...model, prevTokenEmbed: 2 }, 8, 1)! - trainStepFlops(model, 8, 1)!).toBe(3 * 2 * 8 * 2 * 64 * 64);
    expect(trainStepFlops({ dModel: 64 }, 8, 1)).toBeNull();
  });

  it('takes each step at its stage length, and a step whose tokens disagree at tokens / batch', () => {
    const count = flopsCounter({ model, seqLen: 512, batchSize: 1, stages: [{ seqLen: 128, batchSize: 4, steps: 10 }, { seqLen: 512, batchSize: 1, steps: 5 }] })!;
    expect(count(10, 512)).toBe(trainStepFlops(model, 128, 4));
    expect(count(11, 512)).toBe(trainStepFlops(model, 512, 1));
    expect(count(15, 256)).toBe(trainStepFlops(model, 256, 1));
    expect(flopsCounter({ seqLen: 8 })).toBeNull();
  });
});
