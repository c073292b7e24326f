import type { Layout } from '@ringtrain/layout';
import { shardRows } from '@ringtrain/layout';
import type { F32Tensor, I32Tensor } from '@ringtrain/protocol';
import type { AttentionProblem } from '@ringtrain/worker';

/** Global attention inputs, sequence-major: q/dout [S, H, D], k/v [S, Hkv, D]. */
export interface AttentionInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

/** Rank r's `attention`/`bench-attention` job tensors: its rows of every input and their global positions. */
/** One rank's tensors of an `attention` or `bench-attention` job. */
export interface AttentionShardTensors {
  q: F32Tensor;
  k: F32Tensor;
  v: F32Tensor;
  dout: F32Tensor;
  pos: I32Tensor;
  doc?: I32Tensor;
}

export function shardAttentionInputs(x: AttentionInputs, p: AttentionProblem, layout: Layout, r: number, docIds?: Int32Array): AttentionShardTensors {
  const { heads: H, kvHeads: Hkv, headDim: D } = p;
  const n = layout.shardSize(r);
  const f32 = (shape: number[], data: Float32Array): F32Tensor => ({ dtype: 'float32', shape, data });
  return {
    q: f32([n, H, D], shardRows(layout, x.q, H * D, r)),
    k: f32([n, Hkv, D], shardRows(layout, x.k, Hkv * D, r)),
    v: f32([n, Hkv, D], shardRows(layout, x.v, Hkv * D, r)),
    dout: f32([n, H, D], shardRows(layout, x.dout, H * D, r)),
    pos: { dtype: 'int32', shape: [n], data: layout.positions(r) },
    ...(docIds ? { doc: { dtype: 'int32' as const, shape: [n], data: Int32Array.from(layout.positions(r), (pos) => docIds[pos]) } } : {}),
  };
}
