import { RingtrainError } from '@ringtrain/core';
import type { OptimConfig } from '@ringtrain/config';

/** AdamW (decoupled weight decay on matrices), global-norm clipping, warmup + cosine schedule. */

/** Learning rate at `step` (0-based): linear warmup, then cosine down to lr · minLrRatio. */
export function learningRate(c: OptimConfig, step: number): number {
  if (c.warmupSteps > 0 && step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  const span = Math.max(1, c.totalSteps - c.warmupSteps);
  const progress = Math.min(1, (step - c.warmupSteps) / span);
  const min = c.lr * c.minLrRatio;
  return min + 0.5 * (c.lr - min) * (1 + Math.cos(Math.PI * progress));
}

export function globalNorm(grads: Iterable<Float32Array>): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  return Math.sqrt(sum);
}

export class AdamW {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private t = 0;

  constructor(
    readonly config: OptimConfig,
    /** Names of the parameters that get weight decay (matrices). */
    private readonly decayed: ReadonlySet<string>,
  ) {
    if (!(config.lr > 0)) throw new RingtrainError('BAD_OPTION', `learning rate ${config.lr} must be positive`, { hint: 'use e.g. --lr 3e-3' });
  }

  get stepCount(): number {
    return this.t;
  }

  /** First and second moments by parameter name (empty before the first step). */
  moments(): { m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> } {
    return { m: this.m, v: this.v };
  }

  /** Restores the moments and the step count (a resumed run continues the same schedule). */
  restore(step: number, m: ReadonlyMap<string, Float32Array>, v: ReadonlyMap<string, Float32Array>): void {
    this.t = step;
    this.m.clear();
    this.v.clear();
    for (const [name, a] of m) this.m.set(name, Float32Array.from(a));
    for (const [name, a] of v) this.v.set(name, Float32Array.from(a));
  }

  /**
   * Clips the gradients to the global norm, then updates the parameters in place.
   * Returns the gradient norm before clipping and the learning rate used.
   */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>): { gradNorm: number; lr: number } {
    const c = this.config;
    const lr = learningRate(c, this.t);
    const gradNorm = globalNorm(grads.values());
    const clip = c.gradClip > 0 && gradNorm > c.gradClip ? c.gradClip / gradNorm : 1;
    this.t++;
    const bc1 = 1 - Math.pow(c.beta1, this.t);
    const bc2 = 1 - Math.pow(c.beta2, this.t);
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new RingtrainError('MISSING_GRAD', `no gradient for parameter ${name}`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const wd = this.decayed.has(name) ? c.weightDecay : 0;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip;
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
        const update = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + c.eps);
        p[i] -= lr * (update + wd * p[i]);
      }
    }
    return { gradNorm, lr };
  }
}
