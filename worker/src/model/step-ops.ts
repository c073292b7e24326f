import * as tf from '@tensorflow/tfjs';
import { crossEntropyDevice, embedRowsDevice, rmsNormDevice } from './device-ops';
import { headsToRowsDevice, ropeHeadsDevice, ropeHeadsGradDevice, ropeTensors, rowsToHeadsDevice } from './device-heads';
import { crossEntropyFused, embedRows, rmsNormFused } from './fused';
import type { PendingRead } from './grad-reads';
import { headsToRows, ropeHeads, ropeHeadsGrad, ropeTable, rowsToHeads, type HeadShape } from './heads';
import { concatColumns, splitColumns } from './layer-segments';
import { deviceOpsOn } from './ops-mode';

/**
 * The token-local pieces model-step.ts strings between matmuls and attention, in the form
 * ops-mode.ts picks: host (fused.ts, heads.ts: JS over read values, fastest on the CPU
 * backends) or device (device-ops.ts, device-heads.ts: tfjs ops, nothing read). model-step.ts
 * takes one set per step and never branches on the form itself.
 */
export interface StepOps {
  /** E[tokens] [N, d], differentiable in E; with `noneAllowed`, id -1 is a zero row. */
  embedRows(E: tf.Tensor2D, tokens: Int32Array, noneAllowed?: boolean): tf.Tensor2D;
  /** Summed cross-entropy over rows with a target (-1 = none) / globalTokens, differentiable. */
  crossEntropy(logits: tf.Tensor2D, targets: Int32Array, globalTokens: number): tf.Scalar;
  /** RMSNorm with gain, differentiable (the final norm under tf.grads). */
  rmsNorm(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor2D;
  /** Wq|Wk|Wv side by side, from the parameters' values (host) or their tensors (device). */
  concatColumns(d: number, values: readonly Float32Array[], tensors: readonly tf.Tensor[]): tf.Tensor2D;
  /** Starts the read of a [d, Σ widths] gradient as one array per part; takes ownership of m. */
  readColumns(m: tf.Tensor2D, widths: readonly number[]): PendingRead;
  /** The copies between rows and head-major for one shard, RoPE at its positions folded in. */
  headCopies(shape: HeadShape, positions: Int32Array, ropeBase: number): HeadCopies;
}

export interface HeadCopies {
  /** q|k|v rows -> head-major q, k, v, RoPE applied to q and k. */
  toHeads(qkv: tf.Tensor2D): { q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D };
  toHeadsGrad(dq: tf.Tensor3D, dk: tf.Tensor3D, dv: tf.Tensor3D): tf.Tensor2D;
  /** Attention output, head-major -> rows [N, H·Dh]. */
  toRows(out: tf.Tensor3D): tf.Tensor2D;
  toRowsGrad(go: tf.Tensor2D): tf.Tensor3D;
  /** Frees the RoPE table (a device form holds tensors). */
  dispose(): void;
}

const hostOps: StepOps = {
  embedRows,
  crossEntropy: crossEntropyFused,
  rmsNorm: rmsNormFused,
  concatColumns: (d, values) => concatColumns(d, values),
  readColumns: (m, widths) => ({ values: m.data().then((v) => splitColumns(v as Float32Array, m.shape[0], widths)), tensors: [m] }),
  headCopies: (s, positions, base) => {
    const rope = ropeTable(positions, s.headDim, base);
    return {
      toHeads: (qkv) => ropeHeads(qkv, s, rope),
      toHeadsGrad: (dq, dk, dv) => ropeHeadsGrad(dq, dk, dv, s, rope),
      toRows: (out) => headsToRows(out, s.batch, s.heads),
      toRowsGrad: (go) => rowsToHeads(go, s.batch, s.heads, s.headDim),
      dispose: () => undefined,
    };
  },
};

const deviceOps: StepOps = {
  embedRows: embedRowsDevice,
  crossEntropy: crossEntropyDevice,
  rmsNorm: rmsNormDevice,
  concatColumns: (_d, _values, tensors) => tf.concat(tensors as tf.Tensor2D[], 1),
  readColumns: (m, widths) => {
    const parts = tf.split(m, [...widths], 1);
    m.dispose();
    return { values: Promise.all(parts.map(async (p) => (await p.data()) as Float32Array)), tensors: parts };
  },
  headCopies: (s, positions, base) => {
    const rope = ropeTensors(positions, s.headDim, base);
    return {
      toHeads: (qkv) => ropeHeadsDevice(qkv, s, rope),
      toHeadsGrad: (dq, dk, dv) => ropeHeadsGradDevice(dq, dk, dv, s, rope),
      toRows: (out) => headsToRowsDevice(out, s.batch, s.heads),
      toRowsGrad: (go) => rowsToHeadsDevice(go, s.batch, s.heads, s.headDim),
      dispose: () => tf.dispose([rope.cos, rope.sin]),
    };
  },
};

/** The forms in force now (ops-mode.ts). */
export function stepOps(): StepOps {
  return deviceOpsOn() ? deviceOps : hostOps;
}
