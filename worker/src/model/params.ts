import { SeededRandom } from '@ringtrain/core';
import type { ModelConfig } from '@ringtrain/config';

/**
 * Parameters as named flat Float32Arrays in a fixed order. Every rank (and the single-process
 * reference) draws them from the same seed, so replicas start identical. Linear weights are
 * [in, out] (y = x·W).
 */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** Weight decay applies to matrices only. */
  decay: boolean;
  init: 'normal' | 'ones' | 'residual';
}

export type Params = Map<string, Float32Array>;

/*
 * Parameter names say what each tensor is; they are the names in model.safetensors and in
 * every state stream, so other tools can read a saved model without a map.
 */
export const EMBEDDING = 'embedding.weight';
export const FINAL_NORM = 'final_norm.gain';
/** The d×d map of the token `lag` places back (model.prevTokenEmbed). */
export const prevTokenProj = (lag: number): string => `prev_token.${lag}.proj`;

const LAYER_PARTS = {
  norm1: 'attn_norm.gain',
  wq: 'attn.wq',
  wk: 'attn.wk',
  wv: 'attn.wv',
  wo: 'attn.wo',
  norm2: 'mlp_norm.gain',
  w1: 'mlp.w1',
  w2: 'mlp.w2',
} as const;
export type LayerPart = keyof typeof LAYER_PARTS;

export const layerPrefix = (layer: number): string => `layers.${layer}.`;
export const layerParam = (layer: number, part: LayerPart): string => layerPrefix(layer) + LAYER_PARTS[part];
/** Whether a parameter belongs to a transformer block (rather than the embedding or the final norm). */
export const isLayerParam = (name: string): boolean => /^layers\.\d+\./.test(name);

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const hidden = c.mlpRatio * d;
  const specs: ParamSpec[] = [{ name: EMBEDDING, shape: [c.vocabSize, d], decay: true, init: 'normal' }];
  // The token `lag` places back enters as embedding[token]·prev_token.{lag}.proj: the same table as the
  // current token, so a match learned on some tokens holds for all (digits included).
  for (let lag = 1; lag <= c.prevTokenEmbed; lag++) specs.push({ name: prevTokenProj(lag), shape: [d, d], decay: true, init: 'normal' });
  for (let l = 0; l < c.layers; l++) {
    specs.push(
      { name: layerParam(l, 'norm1'), shape: [d], decay: false, init: 'ones' },
      { name: layerParam(l, 'wq'), shape: [d, qDim], decay: true, init: 'normal' },
      { name: layerParam(l, 'wk'), shape: [d, kvDim], decay: true, init: 'normal' },
      { name: layerParam(l, 'wv'), shape: [d, kvDim], decay: true, init: 'normal' },
      { name: layerParam(l, 'wo'), shape: [qDim, d], decay: true, init: 'residual' },
      { name: layerParam(l, 'norm2'), shape: [d], decay: false, init: 'ones' },
      { name: layerParam(l, 'w1'), shape: [d, hidden], decay: true, init: 'normal' },
      { name: layerParam(l, 'w2'), shape: [hidden, d], decay: true, init: 'residual' },
    );
  }
  specs.push({ name: FINAL_NORM, shape: [d], decay: false, init: 'ones' });
  return specs;
}

export function initParams(c: ModelConfig, seed: number): Params {
  const rng = new SeededRandom(seed);
  const residualStd = c.initStd / Math.sqrt(2 * c.layers);
  const params: Params = new Map();
  for (const s of paramSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    params.set(s.name, s.init === 'ones' ? new Float32Array(n).fill(1) : rng.normalArray(n, s.init === 'residual' ? residualStd : c.initStd));
  }
  return params;
}

export function countParams(c: ModelConfig): number {
  return paramSpecs(c).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}
