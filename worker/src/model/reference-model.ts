import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '@ringtrain/config';
import { applyRope, crossEntropySum, geluTanhOps as geluTanh, ropeTables, rmsNorm } from './layers';
import { EMBEDDING, FINAL_NORM, layerParam, paramSpecs, prevTokenProj, type Params } from './params';

/**
 * The single-process oracle for training: the whole model as one tfjs function over the whole
 * batch (plain softmax attention with a causal mask), differentiated end to end by tf.grads.
 * Independent of the segment chain, the strategies and the block kernels it checks.
 */
export function referenceLossAndGrads(
  cfg: ModelConfig,
  params: Params,
  tokens: Int32Array,
  targets: Int32Array,
  batch: number,
  /** [B·S] each token's document (attention stays within it) and RoPE position (default: its index). */
  packed: { docs?: Int32Array; ropePos?: Int32Array } = {},
): { loss: number; grads: Map<string, Float32Array> } {
  const S = tokens.length / batch;
  const { heads: H, kvHeads: Hkv, headDim: Dh } = cfg;
  const G = H / Hkv;
  const specs = paramSpecs(cfg);
  const globalTokens = targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
  const result = tf.tidy(() => {
    const pos = packed.ropePos ?? Int32Array.from({ length: batch * S }, (_, i) => i % S);
    const rope = ropeTables(pos, Dh, cfg.ropeBase);
    const tok = tf.tensor1d(tokens, 'int32');
    // The token `lag` places back of each position; lags before the sequence start are masked to zero.
    const prev = Array.from({ length: cfg.prevTokenEmbed }, (_, i) => {
      const lag = i + 1;
      return {
        ids: tf.tensor1d(Int32Array.from(tokens, (_, j) => (j % S < lag ? 0 : tokens[j - lag])), 'int32'),
        has: tf.tensor2d(Float32Array.from(tokens, (_, j) => (j % S < lag ? 0 : 1)), [tokens.length, 1]),
      };
    });
    const mask = tf.tensor1d(Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0)));
    const oneHot = tf.oneHot(tf.tensor1d(Int32Array.from(targets, (t) => Math.max(t, 0)), 'int32'), cfg.vocabSize).toFloat();
    const causal = attentionMask(S, batch, packed.docs);
    const tensors = specs.map((s) => tf.tensor(params.get(s.name)!, s.shape));
    const lossFn = (...ws: tf.Tensor[]) => {
      const p = new Map(specs.map((s, i) => [s.name, ws[i]]));
      let x = tf.gather(p.get(EMBEDDING)!, tok) as tf.Tensor2D; // [B·S, d]
      prev.forEach(({ ids, has }, i) => {
        x = tf.add(x, tf.matMul(tf.mul(tf.gather(p.get(EMBEDDING)!, ids), has), p.get(prevTokenProj(i + 1))!)) as tf.Tensor2D;
      });
      for (let l = 0; l < cfg.layers; l++) {
        const n = rmsNorm(x, p.get(layerParam(l, 'norm1'))!, cfg.normEps);
        const q = applyRope(tf.reshape(tf.matMul(n, p.get(layerParam(l, 'wq'))!), [batch * S, H, Dh]), rope.cos, rope.sin);
        const k = applyRope(tf.reshape(tf.matMul(n, p.get(layerParam(l, 'wk'))!), [batch * S, Hkv, Dh]), rope.cos, rope.sin);
        const v = tf.reshape(tf.matMul(n, p.get(layerParam(l, 'wv'))!), [batch * S, Hkv, Dh]);
        // [B, H, S, Dh]; K/V heads repeated G times for the plain formula.
        const qh = tf.transpose(tf.reshape(q, [batch, S, H, Dh]), [0, 2, 1, 3]);
        const kh = tf.transpose(tf.reshape(repeatHeads(k, G), [batch, S, H, Dh]), [0, 2, 1, 3]);
        const vh = tf.transpose(tf.reshape(repeatHeads(v, G), [batch, S, H, Dh]), [0, 2, 1, 3]);
        const scores = tf.add(tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(Dh)), causal);
        const o = tf.matMul(tf.softmax(scores), vh); // [B, H, S, Dh]
        const oSeq = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [batch * S, H * Dh]);
        const x1 = tf.add(x, tf.matMul(oSeq, p.get(layerParam(l, 'wo'))!)) as tf.Tensor2D;
        const h = geluTanh(tf.matMul(rmsNorm(x1, p.get(layerParam(l, 'norm2'))!, cfg.normEps), p.get(layerParam(l, 'w1'))!));
        x = tf.add(x1, tf.matMul(h as tf.Tensor2D, p.get(layerParam(l, 'w2'))!)) as tf.Tensor2D;
      }
      const logits = tf.matMul(rmsNorm(x, p.get(FINAL_NORM)!, cfg.normEps), p.get(EMBEDDING)!, false, true);
      return crossEntropySum(logits, oneHot, mask, globalTokens);
    };
    const { value, grads } = tf.valueAndGrads(lossFn)(tensors);
    return { value, grads };
  });
  const out = new Map<string, Float32Array>();
  specs.forEach((s, i) => out.set(s.name, Float32Array.from(result.grads[i].dataSync() as Float32Array)));
  const loss = result.value.dataSync()[0];
  tf.dispose([result.value, ...result.grads]);
  return { loss, grads: out };
}

/**
 * Additive mask: −1e30 where a query may not see a key (a later position; with documents,
 * another document). [S, S], or [B, 1, S, S] with documents (each sequence its own).
 */
function attentionMask(S: number, batch: number, docs: Int32Array | undefined): tf.Tensor {
  if (!docs) return tf.tensor2d(Float32Array.from({ length: S * S }, (_, i) => (i % S > Math.floor(i / S) ? -1e30 : 0)), [S, S]);
  const m = new Float32Array(batch * S * S);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) if (j > i || docs[b * S + i] !== docs[b * S + j]) m[(b * S + i) * S + j] = -1e30;
    }
  }
  return tf.tensor4d(m, [batch, 1, S, S]);
}

/** [N, h, Dh] -> [N, h·G, Dh]: each K/V head serves G consecutive query heads. */
function repeatHeads(t: tf.Tensor, G: number): tf.Tensor {
  if (G === 1) return t;
  const [N, h, Dh] = t.shape;
  return tf.reshape(tf.tile(tf.expandDims(t, 2), [1, 1, G, 1]), [N, h * G, Dh]);
}
