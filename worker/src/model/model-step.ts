import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import type { AttentionKernel } from '@ringtrain/kernels';
import { PHASE, SPAN } from '@ringtrain/protocol';
import type { Transport } from '@ringtrain/transport';
import { makeProblem } from '../attention/problem';
import type { Saved, ShardGrads, Strategy } from '../strategies/types';
import { docsPerSequence, perSequence } from '../strategies/per-sequence';
import type { ModelConfig } from '@ringtrain/config';
import { GradReads } from './grad-reads';
import { postBackward, postForward, preBackward, preForward, type PostSaved, type PostWeights, type PreWeights } from './layer-segments';
import type { HeadShape } from './heads';
import { EMBEDDING, FINAL_NORM, layerParam, layerPrefix, paramSpecs, prevTokenProj, type LayerPart, type Params } from './params';
import { stepOps } from './step-ops';
import { spanEnd, spanStart } from '../trace/tracer';

/**
 * One forward + backward of the reference model on this rank's shard. The model is a chain of
 * local segments (synchronous tfjs) separated by distributed attention (async, hand-written
 * backward). The layers' segments have hand-written backward too (layer-segments.ts, keeping
 * the matmul outputs they need); the embedding and the loss head are differentiated with
 * tf.grads against an upstream gradient. Nothing that awaits the network runs inside tidy or a tape.
 * The token-local ops take the form ops-mode.ts picks (step-ops.ts); results and gradients are
 * read with `await t.data()` in both forms (grad-reads.ts), outside tidy and tape.
 *
 * Batch is folded into heads for attention: [B·H, Sr, Dh], which keeps the GQA head mapping.
 */
export interface ShardBatch {
  tokens: Int32Array; // [B, Sr]
  targets: Int32Array; // [B, Sr], -1 = no loss
  /** [lag, B, Sr] the tokens 1..model.prevTokenEmbed places back of each position (-1 before the start). */
  prevTokens?: Int32Array;
  pos: Int32Array; // [Sr] global positions of this shard
  /** [B, Sr] each token's document: attention stays within documents (document masking). */
  docs?: Int32Array;
  /** [B, Sr] each token's RoPE position (restarting at each document); absent: pos. */
  ropePos?: Int32Array;
  batch: number;
  /** Global sequence length S. */
  seqLen: number;
  /** Targets that are not -1 over the whole batch on every rank. */
  globalTokens: number;
}

export interface StepEnv {
  transport: Transport;
  kernel: AttentionKernel;
  strategy: Strategy;
  /** Called after each layer's backward with that layer's gradients (for overlapped all-reduce). */
  onLayerGrads?: (layer: number, grads: Map<string, Float32Array>) => void;
}

export interface StepResult {
  /** This rank's share of the mean loss (sum over ranks = batch mean loss). */
  loss: number;
  grads: Map<string, Float32Array>;
  /** argmax prediction per token [B, Sr]. */
  predictions: Int32Array;
  timings: { forwardMs: number; backwardMs: number; attentionMs: number };
}

export async function modelStep(env: StepEnv, cfg: ModelConfig, params: Params, b: ShardBatch, tag: string): Promise<StepResult> {
  const seg = shardSegments(cfg, params, b, env.strategy);
  const { weights, problem, embed, head } = seg;
  let attentionMs = 0;

  const ctx = (layer: number, phase: string) => ({ transport: env.transport, kernel: env.kernel, problem, tag: `${tag}.L${layer}.${phase}`, layer });
  // A traced step records each local segment as a span (trace/tracer.ts); otherwise these are no-ops.
  let span = 0;

  // ---- forward ----
  const t0 = performance.now();
  const embedNames = seg.embedNames;
  span = spanStart();
  const xs: tf.Tensor2D[] = [tf.tidy(() => embed(...embedNames.map((n) => weights.get(n)!)))];
  spanEnd(SPAN.embedding, span, PHASE.fwd);
  const attnIn: Array<{ q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D }> = [];
  const attnOut: tf.Tensor2D[] = [];
  const saved: Saved[] = [];
  const postSaved: PostSaved[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    span = spanStart();
    const qkv = preForward(xs[l], seg.pre[l], seg.eps);
    const heads = seg.toHeads(qkv);
    qkv.dispose();
    attnIn.push(heads);
    spanEnd(SPAN.preAttention, span, PHASE.fwd, l);
    const ta = performance.now();
    const { out, saved: s } = await seg.strategy.forward(ctx(l, 'attn'), { ...heads, pos: b.pos, doc: seg.doc });
    attentionMs += performance.now() - ta;
    saved.push(s);
    span = spanStart();
    const o = seg.toRows(out);
    out.dispose();
    attnOut.push(o);
    const post = postForward(xs[l], o, seg.post[l], seg.eps);
    xs.push(post.y);
    postSaved.push(post.saved);
    spanEnd(SPAN.postAttention, span, PHASE.fwd, l);
  }
  const xL = xs[cfg.layers];
  // Read back while backward runs; awaited at the end.
  span = spanStart();
  const result = seg.lossAndPredictions(xL);
  result.catch(() => undefined);
  spanEnd(SPAN.head, span, PHASE.fwd);
  const t1 = performance.now();

  // ---- backward ----
  const grads = new Map<string, Float32Array>();
  const reads = new GradReads(grads);
  span = spanStart();
  const headGrads = tf.tidy(() => tf.grads(head)([xL, weights.get(FINAL_NORM)!, weights.get(EMBEDDING)!]));
  let dx = headGrads[0] as tf.Tensor2D;
  reads.add(FINAL_NORM, headGrads[1]);
  reads.add(EMBEDDING, headGrads[2]);
  spanEnd(SPAN.head, span, PHASE.bwd);
  for (let l = cfg.layers - 1; l >= 0; l--) {
    span = spanStart();
    const post = postBackward(attnOut[l], seg.post[l], seg.eps, postSaved[l], dx);
    reads.add(layerParam(l, 'wo'), post.dwo);
    reads.add(layerParam(l, 'norm2'), post.dg2);
    reads.add(layerParam(l, 'w1'), post.dw1);
    reads.add(layerParam(l, 'w2'), post.dw2);
    tf.dispose([dx, postSaved[l].x1, postSaved[l].u]);
    const dOut = seg.toRowsGrad(post.dO);
    post.dO.dispose();
    spanEnd(SPAN.postAttention, span, PHASE.bwd, l);
    const ta = performance.now();
    const g = await seg.strategy.backward(ctx(l, 'attn'), saved[l], dOut);
    attentionMs += performance.now() - ta;
    span = spanStart();
    dOut.dispose();
    const dqkv = seg.toHeadsGrad(g);
    tf.dispose([g.dq, g.dk, g.dv, attnIn[l].q, attnIn[l].k, attnIn[l].v]);
    const pre = preBackward(xs[l], seg.pre[l], seg.eps, dqkv);
    reads.add(layerParam(l, 'norm1'), pre.dg1);
    reads.addRead(QKV.map((n) => layerParam(l, n)), seg.ops.readColumns(pre.dwqkv, seg.qkvWidths));
    dx = tf.add(post.dx, pre.dx) as tf.Tensor2D;
    tf.dispose([post.dx, pre.dx, dqkv]);
    spanEnd(SPAN.preAttention, span, PHASE.bwd, l);
    span = spanStart();
    await reads.flush();
    spanEnd(SPAN.gradRead, span, PHASE.bwd, l);
    env.onLayerGrads?.(l, layerGrads(grads, l));
  }
  span = spanStart();
  const embedGrads = tf.tidy(() => tf.grads(embed)(embedNames.map((n) => weights.get(n)!), dx));
  embedGrads.forEach((g, i) => reads.add(embedNames[i], g));
  spanEnd(SPAN.embedding, span, PHASE.bwd);
  span = spanStart();
  await reads.flush();
  spanEnd(SPAN.gradRead, span, PHASE.bwd);
  const { loss, predictions } = await result;
  const t2 = performance.now();
  tf.dispose([dx, ...xs, ...attnOut]);
  seg.dispose();
  return { loss, grads, predictions, timings: { forwardMs: t1 - t0, backwardMs: t2 - t1, attentionMs } };
}

/** Forward only (evaluation): this rank's loss share and argmax predictions [B·Sr]. */
export async function modelForward(env: StepEnv, cfg: ModelConfig, params: Params, b: ShardBatch, tag: string): Promise<{ loss: number; predictions: Int32Array }> {
  const seg = shardSegments(cfg, params, { ...b, globalTokens: Math.max(b.globalTokens, 1) }, env.strategy);
  const { weights } = seg;
  let x = tf.tidy(() => seg.embed(...seg.embedNames.map((n) => weights.get(n)!)));
  for (let l = 0; l < cfg.layers; l++) {
    const qkv = preForward(x, seg.pre[l], seg.eps);
    const heads = seg.toHeads(qkv);
    qkv.dispose();
    const { out, saved } = await seg.strategy.forward({ transport: env.transport, kernel: env.kernel, problem: seg.problem, tag: `${tag}.L${l}.eval` }, { ...heads, pos: b.pos, doc: seg.doc });
    saved.dispose();
    const o = seg.toRows(out);
    const post = postForward(x, o, seg.post[l], seg.eps);
    tf.dispose([out, o, heads.q, heads.k, heads.v, x, post.saved.x1, post.saved.u]);
    x = post.y;
  }
  const result = seg.lossAndPredictions(x);
  x.dispose();
  seg.dispose();
  return await result;
}

const QKV = ['wq', 'wk', 'wv'] as const;

/**
 * The local segments of one shard: each layer's weights for layer-segments.ts (Wq|Wk|Wv joined
 * once per step), the embedding and the loss head as pure functions of their tensor arguments
 * (so tf.grads can differentiate them against an upstream gradient), the shard's RoPE table of
 * its global positions built once; and the layout changes between segments and attention
 * (linear, so not differentiated: heads.ts writes out each one's gradient).
 */
function shardSegments(cfg: ModelConfig, params: Params, b: ShardBatch, strategy: Strategy) {
  const { heads: H, kvHeads: Hkv, headDim: Dh } = cfg;
  const weights = paramTensors(cfg, params);
  // Batch is folded into heads for attention, so the strategy sees B·H query heads.
  const problem = makeProblem({ seqLen: b.seqLen, heads: b.batch * H, kvHeads: b.batch * Hkv, headDim: Dh, causal: true });
  const shape: HeadShape = { batch: b.batch, shardLen: b.pos.length, heads: H, kvHeads: Hkv, headDim: Dh };
  const ops = stepOps();
  const copies = ops.headCopies(shape, b.ropePos ?? b.pos, cfg.ropeBase);
  const eps = cfg.normEps;
  const pre: PreWeights[] = [];
  const post: PostWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const w = (n: LayerPart) => weights.get(layerParam(l, n))!;
    const qkvNames = QKV.map((n) => layerParam(l, n));
    pre.push({ g1: w('norm1') as tf.Tensor1D, wqkv: ops.concatColumns(cfg.dModel, qkvNames.map((n) => params.get(n)!), qkvNames.map((n) => weights.get(n)!)) });
    post.push({ wo: w('wo') as tf.Tensor2D, g2: w('norm2') as tf.Tensor1D, w1: w('w1') as tf.Tensor2D, w2: w('w2') as tf.Tensor2D });
  }
  const logitsOf = (x: tf.Tensor, g: tf.Tensor, E: tf.Tensor) => tf.matMul(ops.rmsNorm(x, g, eps), E as tf.Tensor2D, false, true) as tf.Tensor2D;
  // Documents: one kernel call sees one sequence's document ids, so a batch of several sequences
  // attends sequence by sequence (per-sequence.ts); a single sequence passes its ids along.
  const unfold = b.docs !== undefined && b.batch > 1;
  return {
    weights,
    problem,
    strategy: unfold ? perSequence(strategy, docsPerSequence(b.docs!, b.batch), H, Hkv) : strategy,
    doc: unfold ? undefined : b.docs,
    ops,
    /** The parameters `embed` takes, in order. */
    embedNames: [EMBEDDING, ...Array.from({ length: cfg.prevTokenEmbed }, (_, i) => prevTokenProj(i + 1))],
    /** Token embedding, plus embedding[token lag places back]·prev_token.{lag}.proj for each lag of prevTokenEmbed. */
    embed: (...[E, ...projs]: tf.Tensor[]) => {
      const n = b.tokens.length;
      const prev = projs.length > 0 ? prevTokensOf(b, projs.length) : new Int32Array(0);
      return projs.reduce<tf.Tensor2D>(
        (x, R, i) => tf.add(x, tf.matMul(ops.embedRows(E as tf.Tensor2D, prev.subarray(i * n, (i + 1) * n), true), R as tf.Tensor2D)),
        ops.embedRows(E as tf.Tensor2D, b.tokens),
      );
    },
    eps,
    /** Each layer's pre-attention weights (layer-segments.ts): x [N, d] -> q|k|v rows; RoPE comes with toHeads. */
    pre,
    /** Column widths of Wq, Wk, Wv in pre[l].wqkv. */
    qkvWidths: [H * Dh, Hkv * Dh, Hkv * Dh],
    /** Each layer's post-attention weights: (x, attention output rows) -> x + o·Wo, then the MLP residual. */
    post,
    /** q|k|v rows -> head-major q, k, v for the strategy, RoPE applied to q and k. */
    toHeads: (qkv: tf.Tensor2D) => copies.toHeads(qkv),
    toHeadsGrad: (g: ShardGrads) => copies.toHeadsGrad(g.dq, g.dk, g.dv),
    /** Attention output, head-major -> rows [N, H·Dh] for postAttention. */
    toRows: (out: tf.Tensor3D) => copies.toRows(out),
    toRowsGrad: (go: tf.Tensor2D) => copies.toRowsGrad(go),
    /** Final norm, tied LM head and this shard's share of the mean loss. */
    head: (x: tf.Tensor, g: tf.Tensor, E: tf.Tensor) => ops.crossEntropy(logitsOf(x, g, E), b.targets, b.globalTokens),
    /** Computes now (x may be disposed once this returns); the promise is the read of both. */
    lossAndPredictions: async (x: tf.Tensor): Promise<{ loss: number; predictions: Int32Array }> => {
      const r = tf.tidy(() => {
        const logits = logitsOf(x, weights.get(FINAL_NORM)!, weights.get(EMBEDDING)!);
        return { loss: ops.crossEntropy(logits, b.targets, b.globalTokens), predictions: tf.argMax(logits, 1) };
      });
      try {
        const [loss, predictions] = await Promise.all([r.loss.data(), r.predictions.data()]);
        return { loss: loss[0], predictions: predictions as Int32Array };
      } finally {
        tf.dispose([r.loss, r.predictions]);
      }
    },
    dispose: () => {
      tf.dispose([...weights.values(), ...pre.map((w) => w.wqkv)]);
      copies.dispose();
    },
  };
}

function prevTokensOf(b: ShardBatch, lags: number): Int32Array {
  if (!b.prevTokens || b.prevTokens.length !== lags * b.tokens.length) {
    throw new RingtrainError('BAD_BATCH', `the model embeds ${lags} previous tokens per position but the shard has ${b.prevTokens ? b.prevTokens.length : 'no'} previous-token ids for ${b.tokens.length} tokens`, {
      hint: 'pass shardTokenBatch the model\'s prevTokenEmbed as prevLags, so every shard carries [lag, B, Sr] previous-token ids',
    });
  }
  return b.prevTokens;
}

function paramTensors(cfg: ModelConfig, params: Params): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const spec of paramSpecs(cfg)) out.set(spec.name, tf.tensor(params.get(spec.name)!, spec.shape));
  return out;
}

function layerGrads(grads: Map<string, Float32Array>, l: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, g] of grads) if (name.startsWith(layerPrefix(l))) out.set(name, g);
  return out;
}
