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

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const hidden = c.mlpRatio * d;
  const specs: ParamSpec[] = [{ name: 'embed', shape: [c.vocabSize, d], decay: true, init: 'normal' }];
  // The token `lag` places back enters as embed[token]·prevProj{lag}: the same table as the
  // current token, so a match learned on some tokens holds for all (digits included).
  for (let lag = 1; lag <= c.prevTokenEmbed; lag++) specs.push({ name: `prevProj${lag}`, shape: [d, d], decay: true, init: 'normal' });
  for (let l = 0; l < c.layers; l++) {
    specs.push(
      { name: `l${l}.norm1`, shape: [d], decay: false, init: 'ones' },
      { name: `l${l}.wq`, shape: [d, qDim], decay: true, init: 'normal' },
      { name: `l${l}.wk`, shape: [d, kvDim], decay: true, init: 'normal' },
      { name: `l${l}.wv`, shape: [d, kvDim], decay: true, init: 'normal' },
      { name: `l${l}.wo`, shape: [qDim, d], decay: true, init: 'residual' },
      { name: `l${l}.norm2`, shape: [d], decay: false, init: 'ones' },
      { name: `l${l}.w1`, shape: [d, hidden], decay: true, init: 'normal' },
      { name: `l${l}.w2`, shape: [hidden, d], decay: true, init: 'residual' },
    );
  }
  specs.push({ name: 'normf', shape: [d], decay: false, init: 'ones' });
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
