/** Optimizer settings: AdamW with global-norm clipping and a warmup + cosine learning rate. */
export interface OptimConfig {
  readonly lr: number;
  readonly minLrRatio: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Clip the global gradient norm to this; 0 disables clipping. */
  readonly gradClip: number;
}

export const OPTIM_DEFAULTS: Omit<OptimConfig, 'totalSteps'> = Object.freeze({
  lr: 3e-3,
  minLrRatio: 0.1,
  warmupSteps: 20,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  gradClip: 1.0,
});


/** Every OptimConfig field: what travels to the workers with `train-init`. */
export const OPTIM_FIELDS = ['lr', 'minLrRatio', 'warmupSteps', 'totalSteps', 'beta1', 'beta2', 'eps', 'weightDecay', 'gradClip'] as const satisfies ReadonlyArray<keyof OptimConfig>;
