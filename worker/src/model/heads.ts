import * as tf from '@tensorflow/tfjs';

/**
 * Between the local segments (seq-major rows [B·Sr, heads·Dh]) and the strategies (head-major
 * [B·heads, Sr, Dh], batch folded into heads), with rotary embeddings (rotate-half, GPT-NeoX)
 * folded into the q/k copy. RoPE is linear with constant tables, so it lives outside the
 * differentiated segments: forward rotates while copying to head-major, backward applies the
 * transpose (the inverse rotation) while copying back — one pass each, no autodiff, no
 * recomputation. Checked against applyRope + reshape/transpose and their tf.grads in heads.test.ts.
 * The host form (values read and copied in JS); device-heads.ts is the tfjs-ops form.
 */
export interface HeadShape {
  batch: number;
  /** Tokens of this rank's shard per sequence (Sr; the global length S is ShardBatch.seqLen). */
  shardLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** cos/sin [N, headDim/2] of the rotation angles pos·base^(−2j/headDim), as float32. */
export interface RopeTable {
  cos: Float32Array;
  sin: Float32Array;
}

export function ropeTable(positions: Int32Array, headDim: number, base: number): RopeTable {
  const half = headDim / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let i = 0; i < positions.length; i++) {
    for (let j = 0; j < half; j++) {
      const angle = positions[i] * Math.pow(base, (-2 * j) / headDim);
      cos[i * half + j] = Math.cos(angle);
      sin[i * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * qkv [B·Sr, (H + 2·Hkv)·Dh] seq-major -> q [B·H, Sr, Dh], k, v [B·Hkv, Sr, Dh] head-major;
 * RoPE (table [Sr, Dh/2], the shard's positions) applied to q and k.
 */
export function ropeHeads(qkv: tf.Tensor2D, s: HeadShape, rope: RopeTable): { q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D } {
  const src = qkv.dataSync() as Float32Array;
  const q = new Float32Array(s.batch * s.shardLen * s.heads * s.headDim);
  const k = new Float32Array(s.batch * s.shardLen * s.kvHeads * s.headDim);
  const v = new Float32Array(k.length);
  walk(s, (b, i, rowBase) => {
    const { cos, sin } = rope;
    const c0 = ropeRow(rope, s, b, i) * (s.headDim / 2);
    for (let h = 0; h < s.heads; h++) rotate(src, rowBase + h * s.headDim, q, headOffset(s, s.heads, b, h, i), cos, sin, c0, s.headDim, 1);
    for (let h = 0; h < s.kvHeads; h++) {
      rotate(src, rowBase + (s.heads + h) * s.headDim, k, headOffset(s, s.kvHeads, b, h, i), cos, sin, c0, s.headDim, 1);
      const from = rowBase + (s.heads + s.kvHeads + h) * s.headDim;
      v.set(src.subarray(from, from + s.headDim), headOffset(s, s.kvHeads, b, h, i));
    }
  });
  const kvShape: [number, number, number] = [s.batch * s.kvHeads, s.shardLen, s.headDim];
  return { q: tf.tensor3d(q, [s.batch * s.heads, s.shardLen, s.headDim]), k: tf.tensor3d(k, kvShape), v: tf.tensor3d(v, kvShape) };
}

/** The gradient of ropeHeads: dq, dk, dv head-major -> dqkv seq-major, q/k rotated back. */
export function ropeHeadsGrad(dq: tf.Tensor3D, dk: tf.Tensor3D, dv: tf.Tensor3D, s: HeadShape, rope: RopeTable): tf.Tensor2D {
  const [gq, gk, gv] = [dq, dk, dv].map((t) => t.dataSync() as Float32Array);
  const width = (s.heads + 2 * s.kvHeads) * s.headDim;
  const out = new Float32Array(s.batch * s.shardLen * width);
  walk(s, (b, i, rowBase) => {
    const { cos, sin } = rope;
    const c0 = ropeRow(rope, s, b, i) * (s.headDim / 2);
    for (let h = 0; h < s.heads; h++) rotate(gq, headOffset(s, s.heads, b, h, i), out, rowBase + h * s.headDim, cos, sin, c0, s.headDim, -1);
    for (let h = 0; h < s.kvHeads; h++) {
      rotate(gk, headOffset(s, s.kvHeads, b, h, i), out, rowBase + (s.heads + h) * s.headDim, cos, sin, c0, s.headDim, -1);
      const from = headOffset(s, s.kvHeads, b, h, i);
      out.set(gv.subarray(from, from + s.headDim), rowBase + (s.heads + s.kvHeads + h) * s.headDim);
    }
  });
  return tf.tensor2d(out, [s.batch * s.shardLen, width]);
}

/** Head-major [B·h, Sr, Dh] -> seq-major [B·Sr, h·Dh] (attention output into the segment). */
export function headsToRows(t: tf.Tensor3D, batch: number, h: number): tf.Tensor2D {
  const [, Sr, Dh] = t.shape;
  const x = t.dataSync() as Float32Array;
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let j = 0; j < h; j++) for (let i = 0; i < Sr; i++) {
    const from = ((b * h + j) * Sr + i) * Dh;
    out.set(x.subarray(from, from + Dh), ((b * Sr + i) * h + j) * Dh);
  }
  return tf.tensor2d(out, [batch * Sr, h * Dh]);
}

/** Seq-major [B·Sr, h·Dh] -> head-major [B·h, Sr, Dh] (the gradient of headsToRows). */
export function rowsToHeads(t: tf.Tensor2D, batch: number, h: number, Dh: number): tf.Tensor3D {
  const Sr = t.shape[0] / batch;
  const x = t.dataSync() as Float32Array;
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let j = 0; j < h; j++) for (let i = 0; i < Sr; i++) {
    const from = ((b * Sr + i) * h + j) * Dh;
    out.set(x.subarray(from, from + Dh), ((b * h + j) * Sr + i) * Dh);
  }
  return tf.tensor3d(out, [batch * h, Sr, Dh]);
}

/**
 * The table row of token i of sequence b: a table of the shard's positions [Sr] serves every
 * sequence alike; one of per-token positions [B·Sr] (restarting at each document) has a row each.
 */
function ropeRow(rope: RopeTable, s: HeadShape, b: number, i: number): number {
  return rope.cos.length === s.shardLen * (s.headDim / 2) ? i : b * s.shardLen + i;
}

/** Calls f for every token (sequence b, index i) with its row's offset in the seq-major qkv. */
function walk(s: HeadShape, f: (b: number, i: number, rowBase: number) => void): void {
  const width = (s.heads + 2 * s.kvHeads) * s.headDim;
  for (let b = 0; b < s.batch; b++) for (let i = 0; i < s.shardLen; i++) f(b, i, (b * s.shardLen + i) * width);
}

/** Offset of token i of head h (of `heads`) of sequence b in a head-major [B·heads, Sr, Dh]. */
function headOffset(s: HeadShape, heads: number, b: number, h: number, i: number): number {
  return ((b * heads + h) * s.shardLen + i) * s.headDim;
}

/**
 * out[o..o+Dh) <- x[xi..xi+Dh) rotated by the angles at table offset c0; dir 1 rotates
 * (x1·c − x2·s, x2·c + x1·s), dir −1 applies the transpose (x1·c + x2·s, x2·c − x1·s).
 */
function rotate(x: Float32Array, xi: number, out: Float32Array, o: number, cos: Float32Array, sin: Float32Array, c0: number, Dh: number, dir: 1 | -1): void {
  const half = Dh / 2;
  for (let j = 0; j < half; j++) {
    const c = cos[c0 + j];
    const sn = dir * sin[c0 + j];
    const x1 = x[xi + j];
    const x2 = x[xi + half + j];
    out[o + j] = x1 * c - x2 * sn;
    out[o + half + j] = x2 * c + x1 * sn;
  }
}
