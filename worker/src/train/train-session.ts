import { createHash } from 'node:crypto';
import { RingtrainError } from '@ringtrain/core';
import { ADAM_M, ADAM_V, PHASE, SPAN, type Bulk } from '@ringtrain/protocol';
import type { AttentionKernel } from '@ringtrain/kernels';
import type { Transport } from '@ringtrain/transport';
import { allReduceBucket } from '../comm/all-reduce';
import { exposedCommMs, resetExposedComm } from '../comm/comm-timer';
import { checkModelConfig, type ModelConfig } from '@ringtrain/config';
import { modelForward, modelStep, type ShardBatch } from '../model/model-step';
import { initParams, isLayerParam, paramSpecs, type Params } from '../model/params';
import type { OptimConfig } from '@ringtrain/config';
import { AdamW } from '../optim/adamw';
import type { Strategy } from '../strategies/types';
import { spanEnd, spanStart, traceTransfer } from '../trace/tracer';


function stateMismatch(problem: string): RingtrainError {
  return new RingtrainError('STATE_MISMATCH', `cannot load the state: ${problem}`, { hint: 'the state was saved from another model config; load it into the same model' });
}

export interface StepReport {
  /** This rank's share of the batch mean loss. */
  loss: number;
  gradNorm: number;
  lr: number;
  predictions: Int32Array;
  /** The all-reduced (global) gradients this step applied, before clipping. */
  grads: Map<string, Float32Array>;
  computeMs: number;
  /** Time in attention kernels (attention calls less the exposed communication inside them). */
  attentionMs: number;
  /** Exposed communication: time awaiting ring / all-to-all transfers that compute did not hide. */
  commMs: number;
  /** Time waiting for the gradient all-reduce after backward finished. */
  allReduceMs: number;
  optimizerMs: number;
}

/**
 * One rank's replica: parameters, optimizer state, and the step that ties model, attention
 * strategy, bucketed gradient all-reduce (one bucket per layer, launched as soon as that
 * layer's backward is done, so it overlaps the backward of earlier layers) and AdamW together.
 */
export class TrainSession {
  readonly model: ModelConfig;
  readonly params: Params;
  readonly optimizer: AdamW;
  private stepIndex = 0;

  constructor(model: ModelConfig, optim: OptimConfig, seed: number) {
    this.model = checkModelConfig(model);
    this.params = initParams(this.model, seed);
    const decayed = new Set(paramSpecs(this.model).filter((s) => s.decay).map((s) => s.name));
    this.optimizer = new AdamW(optim, decayed);
  }

  async step(env: { transport: Transport; kernel: AttentionKernel; strategy: Strategy }, batch: ShardBatch): Promise<StepReport> {
    const tag = `train.${this.stepIndex}`;
    const buckets: Promise<void>[] = [];
    // Each bucket is an `allreduce` span of a traced step, from launch until its sums are in place.
    const allReduce = (name: string, grads: Map<string, Float32Array>, layer: number) =>
      buckets.push(traceTransfer(allReduceBucket(env.transport, `${tag}.ar.${name}`, grads), SPAN.allReduce, PHASE.none, layer, -1, -1));
    resetExposedComm();
    const t0 = performance.now();
    const r = await modelStep(
      {
        ...env,
        onLayerGrads: (layer, grads) => allReduce(`L${layer}`, grads, layer),
      },
      this.model,
      this.params,
      batch,
      tag,
    );
    const t1 = performance.now();
    const commMs = exposedCommMs();
    const rest = new Map([...r.grads].filter(([name]) => !isLayerParam(name)));
    allReduce('rest', rest, -1);
    let span = spanStart();
    await Promise.all(buckets);
    spanEnd(SPAN.allReduceWait, span);
    const t2 = performance.now();
    span = spanStart();
    const { gradNorm, lr } = this.optimizer.step(this.params, r.grads);
    spanEnd(SPAN.optimizer, span);
    const t3 = performance.now();
    this.stepIndex++;
    return {
      loss: r.loss,
      gradNorm,
      lr,
      predictions: r.predictions,
      grads: r.grads,
      computeMs: t1 - t0 - r.timings.attentionMs,
      attentionMs: r.timings.attentionMs - commMs,
      commMs,
      allReduceMs: t2 - t1,
      optimizerMs: t3 - t2,
    };
  }

  async evaluate(env: { transport: Transport; kernel: AttentionKernel; strategy: Strategy }, batch: ShardBatch, tag: string): Promise<{ loss: number; predictions: Int32Array }> {
    return modelForward({ ...env }, this.model, this.params, batch, tag);
  }

  /** Flat per-parameter arrays as tensors with the parameters' real shapes. */
  shaped(arrays: ReadonlyMap<string, Float32Array>, prefix = ''): Bulk {
    const out: Bulk = new Map();
    for (const s of paramSpecs(this.model)) {
      const a = arrays.get(s.name);
      if (a) out.set(prefix + s.name, { dtype: 'float32', shape: [...s.shape], data: a });
    }
    return out;
  }

  /** The parameters, in spec order, as views (no copy). */
  paramState(): Bulk {
    return this.shaped(this.params);
  }

  /** AdamW's moments as `adam.m.<param>` and `adam.v.<param>` (empty before the first step). */
  optimizerState(): Bulk {
    const { m, v } = this.optimizer.moments();
    return new Map([...this.shaped(m, ADAM_M), ...this.shaped(v, ADAM_V)]);
  }

  /**
   * Replaces the parameters (and, with `optimizerStep`, AdamW's moments and step) from `state`.
   * Everything is checked first — every parameter present with its shape, nothing unknown — so
   * a state that does not fit changes nothing.
   */
  loadState(state: Bulk, optimizerStep?: number): void {
    const specs = paramSpecs(this.model);
    const expected = new Map<string, number[]>();
    for (const s of specs) expected.set(s.name, s.shape);
    const withMoments = optimizerStep !== undefined && optimizerStep > 0;
    if (withMoments) for (const s of specs) for (const p of [ADAM_M, ADAM_V]) expected.set(p + s.name, s.shape);
    for (const [name, shape] of expected) {
      const t = state.get(name);
      if (!t) throw stateMismatch(`the state has no tensor "${name}"`);
      if (t.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
        throw stateMismatch(`tensor "${name}" is ${t.dtype} [${t.shape.join(', ')}], this model needs float32 [${shape.join(', ')}]`);
      }
    }
    const extra = [...state.keys()].filter((n) => !expected.has(n));
    if (extra.length) throw stateMismatch(`the state has tensors this model does not: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`);
    const data = (name: string) => state.get(name)!.data as Float32Array; // float32, checked above
    for (const s of specs) this.params.get(s.name)!.set(data(s.name));
    if (withMoments) {
      const moments = (prefix: string) => new Map(specs.map((s) => [s.name, data(prefix + s.name)]));
      this.optimizer.restore(optimizerStep, moments(ADAM_M), moments(ADAM_V));
    } else if (optimizerStep === 0) {
      this.optimizer.restore(0, new Map(), new Map());
    }
  }

  /** sha256 over every parameter in a fixed order: equal on every rank, or replicas diverged. */
  paramHash(): string {
    const h = createHash('sha256');
    for (const s of paramSpecs(this.model)) {
      const p = this.params.get(s.name)!;
      h.update(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    }
    return h.digest('hex');
  }
}
