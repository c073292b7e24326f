import type * as tf from '@tensorflow/tfjs';
import type { AttentionKernel } from '@ringtrain/kernels';
import type { TrainStrategy } from '@ringtrain/config';
import type { LayoutName } from '@ringtrain/layout';
import type { Transport } from '@ringtrain/transport';
import type { AttentionProblem } from '../attention/problem';

/** The strategies' names are the config's (libs/config STRATEGY_LAYOUTS). */
export type StrategyName = TrainStrategy;

/** This rank's shard, head-major, in the strategy's layout. */
export interface ShardInputs {
  q: tf.Tensor3D; // [H, Sr, D]
  k: tf.Tensor3D; // [Hkv, Sr, D]
  v: tf.Tensor3D; // [Hkv, Sr, D]
  pos: Int32Array; // [Sr] global positions, increasing
  /** [Sr] document id of each position (packed sequences): a query sees only keys of its document. */
  doc?: Int32Array;
}

export interface AttentionContext {
  transport: Transport;
  kernel: AttentionKernel;
  problem: AttentionProblem;
  /** Unique per attention call (e.g. `L3.s17`); every transfer tag starts with it. */
  tag: string;
  /** The model layer this call serves, for a traced step's spans (trace/tracer.ts); absent outside training. */
  layer?: number;
}

/** What forward keeps for backward. The strategy owns its tensors until dispose(). */
export interface Saved {
  dispose(): void;
}

export interface ShardGrads {
  dq: tf.Tensor3D; // [H, Sr, D]
  dk: tf.Tensor3D; // [Hkv, Sr, D]
  dv: tf.Tensor3D; // [Hkv, Sr, D]
}

/**
 * A way for attention to cross ranks. forward/backward are async (they await the network) and
 * never run inside tf.tidy or a gradient tape; the returned tensors belong to the caller.
 * The inputs stay owned by the caller and must live until backward returns.
 */
export interface Strategy {
  readonly name: StrategyName;
  readonly layout: LayoutName;
  /** Throws a RingtrainError naming the option when this strategy cannot run the problem. */
  checkProblem(problem: AttentionProblem, worldSize: number): void;
  forward(ctx: AttentionContext, shard: ShardInputs): Promise<{ out: tf.Tensor3D; saved: Saved }>;
  backward(ctx: AttentionContext, saved: Saved, dout: tf.Tensor3D): Promise<ShardGrads>;
}
