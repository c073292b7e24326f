import { MODEL_PRESETS } from '@ringtrain/config';
import { trainStepFlops } from './run-train';

describe('trainStepFlops (the model FLOPs bench train divides by the step time)', () => {
  it('counts 3 × (weight matmuls + causal attention) on a case worked out by hand', () => {
    // vocab 10, d 4, 1 layer, 2 query heads and 1 K/V head of 2, MLP 4d, S = 3:
    //   weights per token: qkv 4·(2+2)·2 = 32, out 2·2·4 = 16, MLP 2·4·16 = 128, LM head 10·4 = 40
    //   matmul 2·3·216 = 1296; attention 2·S²·H·Dh = 2·9·2·2 = 72 (4·S²·H·Dh halved: causal)
    const m = { ...MODEL_PRESETS.tiny, vocabSize: 10, dModel: 4, layers: 1, heads: 2, kvHeads: 1, headDim: 2, mlpRatio: 4 };
    expect(trainStepFlops(m, 3, 1)).toBe(3 * (1296 + 72));
    expect(trainStepFlops(m, 3, 2)).toBe(2 * 3 * (1296 + 72));
  });
});
