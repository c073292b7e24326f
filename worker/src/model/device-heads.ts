import * as tf from '@tensorflow/tfjs';
import { ropeTable, type HeadShape } from './heads';

/**
 * heads.ts's layout changes (seq-major rows <-> head-major, batch folded into heads) with RoPE
 * folded into the q/k copy, as tfjs ops only: reshape + transpose for the copies, split/concat
 * of the rotate-half halves with cos/sin tensors for the rotation. For backends whose values
 * stay on an accelerator (nothing here reads a tensor). The gradients are written out as in
 * heads.ts (RoPE is linear: its transpose is the inverse rotation), not differentiated.
 * Tested against the host forms in device-heads.test.ts.
 */

/**
 * cos/sin [Sr, headDim/2] of the shard's positions, or [B·Sr, headDim/2] of per-token positions
 * (restarting at each document), uploaded once per step; dispose after it.
 */
export interface RopeTensors {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

/**
 * The angles come from heads.ts's ropeTable (computed in float64 on the host, then rounded):
 * in float32 on the device, pos·freq at positions in the thousands would lose ~1e-4 rad.
 */
export function ropeTensors(positions: Int32Array, headDim: number, base: number): RopeTensors {
  const { cos, sin } = ropeTable(positions, headDim, base);
  const shape: [number, number] = [positions.length, headDim / 2];
  return { cos: tf.tensor2d(cos, shape), sin: tf.tensor2d(sin, shape) };
}

/** ropeHeads' device form: qkv rows [B·Sr, (H + 2·Hkv)·Dh] -> q [B·H, Sr, Dh], k, v [B·Hkv, Sr, Dh], RoPE on q and k. */
export function ropeHeadsDevice(qkv: tf.Tensor2D, s: HeadShape, rope: RopeTensors): { q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D } {
  return tf.tidy(() => {
    const [q, k, v] = tf.split(qkv, [s.heads * s.headDim, s.kvHeads * s.headDim, s.kvHeads * s.headDim], 1) as tf.Tensor2D[];
    return {
      q: rotate(rowsToHeadsDevice(q, s.batch, s.heads, s.headDim), rope, 1),
      k: rotate(rowsToHeadsDevice(k, s.batch, s.kvHeads, s.headDim), rope, 1),
      v: rowsToHeadsDevice(v, s.batch, s.kvHeads, s.headDim),
    };
  });
}

/** ropeHeadsGrad's device form: dq, dk, dv head-major -> dqkv rows, q/k rotated back. */
export function ropeHeadsGradDevice(dq: tf.Tensor3D, dk: tf.Tensor3D, dv: tf.Tensor3D, s: HeadShape, rope: RopeTensors): tf.Tensor2D {
  return tf.tidy(() =>
    tf.concat([headsToRowsDevice(rotate(dq, rope, -1), s.batch, s.heads), headsToRowsDevice(rotate(dk, rope, -1), s.batch, s.kvHeads), headsToRowsDevice(dv, s.batch, s.kvHeads)], 1),
  );
}

/** Head-major [B·h, Sr, Dh] -> seq-major [B·Sr, h·Dh] (headsToRows' device form). */
export function headsToRowsDevice(t: tf.Tensor3D, batch: number, h: number): tf.Tensor2D {
  const [, Sr, Dh] = t.shape;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(t, [batch, h, Sr, Dh]), [0, 2, 1, 3]), [batch * Sr, h * Dh]));
}

/** Seq-major [B·Sr, h·Dh] -> head-major [B·h, Sr, Dh] (rowsToHeads' device form). */
export function rowsToHeadsDevice(t: tf.Tensor2D, batch: number, h: number, Dh: number): tf.Tensor3D {
  const Sr = t.shape[0] / batch;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(t, [batch, Sr, h, Dh]), [0, 2, 1, 3]), [batch * h, Sr, Dh]));
}

/**
 * Rotate-half on head-major x [B·h, Sr, Dh] (cos/sin broadcast over the leading axis): dir 1
 * gives (x1·c − x2·s, x2·c + x1·s), dir −1 its transpose (x1·c + x2·s, x2·c − x1·s).
 */
function rotate(x: tf.Tensor3D, rope: RopeTensors, dir: 1 | -1): tf.Tensor3D {
  const [BH, Sr, Dh] = x.shape;
  const rows = rope.cos.shape[0];
  if (rows !== Sr) {
    // Per-token positions [B·Sr]: each sequence rotates by its own rows, broadcast over its heads.
    const B = rows / Sr;
    const per = (t: tf.Tensor2D) => tf.reshape(t, [B, 1, Sr, Dh / 2]);
    const r = rotate4(tf.reshape(x, [B, BH / B, Sr, Dh]), per(rope.cos), per(rope.sin), dir);
    return tf.reshape(r, [BH, Sr, Dh]);
  }
  return rotate4(x, rope.cos, rope.sin, dir) as tf.Tensor3D;
}

function rotate4(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, dir: 1 | -1): tf.Tensor {
  const axis = x.rank - 1;
  const [x1, x2] = tf.split(x, 2, axis);
  const [c1, c2, s1, s2] = [tf.mul(x1, cos), tf.mul(x2, cos), tf.mul(x1, sin), tf.mul(x2, sin)];
  return tf.concat(dir === 1 ? [tf.sub(c1, s2), tf.add(c2, s1)] : [tf.add(c1, s2), tf.sub(c2, s1)], axis);
}
