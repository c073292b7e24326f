import { RingtrainError } from '@ringtrain/core';

/** The reference model of DESIGN.md: decoder-only, fp32, no biases, tied LM head. */
export interface ModelConfig {
  readonly vocabSize: number;
  readonly dModel: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** MLP hidden = mlpRatio · dModel. */
  readonly mlpRatio: number;
  readonly ropeBase: number;
  readonly normEps: number;
  readonly initStd: number;
}

export type ModelPresetName = 'tiny' | 'passkey' | 'small';

const BASE = { ropeBase: 10000, normEps: 1e-5, initStd: 0.02, mlpRatio: 4 };

/** Named presets; `tiny` is for tests, `small` is d 256, 4 layers, 4 heads of 64, MLP 4d. */
export const MODEL_PRESETS: Readonly<Record<ModelPresetName, Omit<ModelConfig, 'vocabSize'>>> = Object.freeze({
  tiny: { ...BASE, dModel: 16, layers: 2, heads: 2, kvHeads: 2, headDim: 8 },
  passkey: { ...BASE, dModel: 64, layers: 2, heads: 4, kvHeads: 4, headDim: 16 },
  small: { ...BASE, dModel: 256, layers: 4, heads: 4, kvHeads: 4, headDim: 64 },
});

export function checkModelConfig(c: ModelConfig): ModelConfig {
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RingtrainError('BAD_MODEL', `model ${name} ${v} must be a positive integer`, { hint: `set model.${name} to 1 or more` });
  };
  positive('vocabSize', c.vocabSize);
  positive('dModel', c.dModel);
  positive('layers', c.layers);
  positive('heads', c.heads);
  positive('kvHeads', c.kvHeads);
  positive('headDim', c.headDim);
  positive('mlpRatio', c.mlpRatio);
  if (c.heads % c.kvHeads !== 0) {
    throw new RingtrainError('BAD_MODEL', `model kvHeads ${c.kvHeads} must divide heads ${c.heads}`, { hint: 'choose kvHeads among the divisors of heads' });
  }
  if (c.headDim % 2 !== 0) {
    throw new RingtrainError('BAD_MODEL', `model headDim ${c.headDim} must be even (RoPE rotates pairs of dims)`, { hint: 'use an even headDim such as 16, 32 or 64' });
  }
  return Object.freeze({ ...c });
}
