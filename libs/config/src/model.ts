import { RingtrainError } from '@ringtrain/core';

/** The reference model of docs/model.md: decoder-only, fp32, no biases, tied LM head. */
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
  /**
   * n (0..4): each position also embeds the n tokens before it: embed[token lag places back]
   * times a learned d×d `prev_token.{lag}.proj`, added to the token embedding (lags before the sequence
   * start add nothing). Sharing the token table makes a match learned on some tokens hold for
   * all. One attention layer can then match "the tokens before position s equal the tokens
   * up to here" — the copying circuit that retrieval needs — without first learning
   * previous-token heads in an earlier layer (which small models trained briefly do not).
   */
  readonly prevTokenEmbed: number;
}

/** Most previous tokens a position may embed (model.prevTokenEmbed). */
export const MAX_PREV_TOKENS = 4;

/** Every ModelConfig field: what a config file may set and what travels to the workers. */
export const MODEL_FIELDS = ['vocabSize', 'dModel', 'layers', 'heads', 'kvHeads', 'headDim', 'mlpRatio', 'ropeBase', 'normEps', 'initStd', 'prevTokenEmbed'] as const satisfies ReadonlyArray<keyof ModelConfig>;

export type ModelPresetName = 'tiny' | 'passkey' | 'small';

const BASE = { ropeBase: 10000, normEps: 1e-5, initStd: 0.02, mlpRatio: 4, prevTokenEmbed: 0 };

/** Named presets; `tiny` is for tests, `small` is d 256, 4 layers, 4 heads of 64, MLP 4d. */
export const MODEL_PRESETS: Readonly<Record<ModelPresetName, Omit<ModelConfig, 'vocabSize'>>> = Object.freeze({
  tiny: { ...BASE, dModel: 16, layers: 2, heads: 2, kvHeads: 2, headDim: 8 },
  /**
   * Sized for `npm start` on 2 cores. init 0.1: at 0.02 the copy circuit did not form within 400
   * steps. RoPE base 10¹²: all but the fastest rotations stay nearly still out to 4096, so the
   * retrieval match is by content and carries from short warmup sequences to long ones (at 10⁶
   * a model trained at 512 lost the key at 2048). prevTokenEmbed 4: the question's
   * "…key is " and the statement's "…K is the" look alike over 3 bytes; the 4th ('y') tells
   * the answer slot apart.
   */
  passkey: { ...BASE, dModel: 64, layers: 2, heads: 4, kvHeads: 4, headDim: 16, initStd: 0.1, ropeBase: 1e12, prevTokenEmbed: 4 },
  small: { ...BASE, dModel: 256, layers: 4, heads: 4, kvHeads: 4, headDim: 64 },
});

/**
 * The largest value of each model dimension: far beyond any model a run here trains, and low
 * enough that no count built from them overflows or allocates before the memory estimate
 * (memory-estimate.ts) has refused a model that will not fit.
 */
export const MODEL_LIMITS = Object.freeze({ vocabSize: 2 ** 24, dModel: 2 ** 16, layers: 4096, heads: 4096, kvHeads: 4096, headDim: 4096, mlpRatio: 64 });

export function checkModelConfig(c: ModelConfig): ModelConfig {
  const positive = (name: keyof typeof MODEL_LIMITS, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RingtrainError('BAD_MODEL', `model ${name} ${v} must be a positive integer`, { hint: `set model.${name} to 1 or more` });
    if (v > MODEL_LIMITS[name]) throw new RingtrainError('BAD_MODEL', `model ${name} ${v} is above the limit of ${MODEL_LIMITS[name]}`, { hint: `set model.${name} to at most ${MODEL_LIMITS[name]}` });
  };
  positive('vocabSize', c.vocabSize);
  positive('dModel', c.dModel);
  positive('layers', c.layers);
  positive('heads', c.heads);
  positive('kvHeads', c.kvHeads);
  positive('headDim', c.headDim);
  positive('mlpRatio', c.mlpRatio);
  if (!Number.isInteger(c.prevTokenEmbed) || c.prevTokenEmbed < 0 || c.prevTokenEmbed > MAX_PREV_TOKENS) {
    throw new RingtrainError('BAD_MODEL', `model prevTokenEmbed ${c.prevTokenEmbed} must be an integer from 0 to ${MAX_PREV_TOKENS}`, {
      hint: `set model.prevTokenEmbed to how many previous tokens each position embeds (0 to ${MAX_PREV_TOKENS})`,
    });
  }
  if (c.heads % c.kvHeads !== 0) {
    throw new RingtrainError('BAD_MODEL', `model kvHeads ${c.kvHeads} must divide heads ${c.heads}`, { hint: 'choose kvHeads among the divisors of heads' });
  }
  if (c.headDim % 2 !== 0) {
    throw new RingtrainError('BAD_MODEL', `model headDim ${c.headDim} must be even (RoPE rotates pairs of dims)`, { hint: 'use an even headDim such as 16, 32 or 64' });
  }
  return Object.freeze({ ...c });
}
