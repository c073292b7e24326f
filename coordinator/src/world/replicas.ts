import { RingtrainError } from '@ringtrain/core';
import type { ModelConfig, OptimConfig, TrainStrategy } from '@ringtrain/config';
import type { Layout } from '@ringtrain/layout';
import type { Bulk } from '@ringtrain/protocol';
import type { Coordinator, RankResult } from '../coordinator';
import { countTargets, gatherTokenBatch, shardTokenBatch } from '../train/shard-batch';

/** A token batch in global order: [B, S] inputs and next-token targets (-1: no loss). */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  /** [B, S] each token's document: attention stays within documents (document masking). */
  docs?: Int32Array;
  /** [B, S] each token's RoPE position (restarting at each document); absent: its global position. */
  ropePos?: Int32Array;
}

export interface StepOptions {
  /** Compare the replicas' parameter hashes after the step. */
  hashCheck: boolean;
  /** Gather the argmax predictions [B, S] in global order. */
  predictions: boolean;
  /** Bring back every rank's all-reduced gradients (check --train). */
  grads: boolean;
  /** Bring back every rank's timeline of the step (a sampled step: trace-log.ts). */
  trace?: boolean;
}

/**
 * One rank's timeline of a traced step, as it came (libs/protocol trace.ts), with the four clock
 * readings that align it: the coordinator's (sent, received) and the worker's (recvAt, sendAt).
 */
export interface RankTrace {
  rank: number;
  /** Coordinator clock (wallClockMs): the job sent to this rank, its result arrived. */
  sentAtMs: number;
  receivedAtMs: number;
  /** Worker clock: the job arrived, the result left. */
  recvAtMs: number;
  sendAtMs: number;
  /** Worker clock that `times` are relative to. */
  originMs: number;
  /** [n, 2] start, end (ms after originMs). */
  times: Float32Array;
  /** [n, 5] name, phase, layer, hop, peer (TRACE_COLUMNS; -1: absent). */
  codes: Int32Array;
  /** Spans the worker left out past MAX_TRACE_SPANS. */
  dropped: number;
}

export interface StepOutcome {
  /** Batch mean loss (the ranks' shares summed). */
  loss: number;
  gradNorm: number;
  lr: number;
  /** The slowest rank's split of the step. */
  computeMs: number;
  attentionMs: number;
  commMs: number;
  allReduceMs: number;
  optimizerMs: number;
  /** Peak resident set of each worker so far, by rank. */
  rssBytes: number[];
  /** The longest a worker's event loop was blocked during the step (the floor for heartbeat timeouts). */
  maxBlockMs: number;
  /** Targets that count in the loss over the whole batch. */
  globalTokens: number;
  predictions?: Int32Array;
  /** Each rank's applied gradients, by rank (with `grads`). */
  grads?: Bulk[];
  /** Each rank's timeline, by rank (with `trace`). */
  traces?: RankTrace[];
}

/**
 * Typed calls on the training replicas of a formed world — one per rank, kept identical — used by
 * `train`, `eval`, `check --train` and `bench train` alike.
 */
export class Replicas {
  constructor(readonly coordinator: Coordinator) {}

  get workers(): number {
    return this.coordinator.worldSize;
  }

  /** Every rank builds the same weights from the seed; the hashes prove they did. */
  /** `ulyssesDegree`: hybrid's U (ignored by the other strategies). */
  async init(p: { model: ModelConfig; optim: OptimConfig; seed: number; strategy: TrainStrategy; ulyssesDegree?: number }): Promise<string> {
    const degree = p.strategy === 'hybrid' && p.ulyssesDegree !== undefined ? { ulyssesDegree: p.ulyssesDegree } : {};
    const results = await this.coordinator.runOnAll('train-init', { params: { model: { ...p.model }, optim: { ...p.optim }, seed: p.seed, strategy: p.strategy, ...degree }, tensors: {} });
    return sameHash(results.map((r) => r.meta.hash), 'initialisation');
  }

  /** One optimizer step on a batch cut by `layout`. */
  async step(layout: Layout, batch: TokenBatch, prevLags: number, o: StepOptions, label = 'a step'): Promise<StepOutcome> {
    const globalTokens = countTargets(batch.targets);
    const params = { seqLen: layout.seqLen, batch: batch.batchSize, globalTokens, hashCheck: o.hashCheck, predictions: o.predictions, grads: o.grads, trace: o.trace ?? false };
    const results = await this.coordinator.runJob('train-step', shardTokenBatch(layout, batch.inputs, batch.targets, batch.batchSize, prevLags, batch).map((tensors) => ({ params, tensors })));
    if (o.hashCheck) sameHash(results.map((r) => r.meta.hash ?? 'missing'), label);
    const slowest = (pick: (r: RankResult<'train-step'>) => number) => Math.max(...results.map(pick));
    const outcome: StepOutcome = {
      loss: results.reduce((a, r) => a + r.meta.loss, 0),
      gradNorm: results[0].meta.gradNorm,
      lr: results[0].meta.lr,
      computeMs: slowest((r) => r.meta.computeMs),
      attentionMs: slowest((r) => r.meta.attentionMs),
      commMs: slowest((r) => r.meta.commMs),
      allReduceMs: slowest((r) => r.meta.allReduceMs),
      optimizerMs: slowest((r) => r.meta.optimizerMs),
      rssBytes: results.map((r) => r.meta.rssBytes),
      maxBlockMs: slowest((r) => r.meta.maxBlockMs),
      globalTokens,
    };
    if (o.predictions) outcome.predictions = gatherTokenBatch(layout, results.map((r) => required(r.tensors.predictions, 'predictions', r.rank).data), batch.batchSize);
    if (o.grads) outcome.grads = results.map((r) => required(r.bulk, 'gradients', r.rank));
    if (o.trace) outcome.traces = results.map(rankTrace);
    return outcome;
  }

  /** Forward only: the batch mean loss and the predictions [B, S] in global order. */
  async evaluate(layout: Layout, batch: TokenBatch, prevLags: number): Promise<{ loss: number; predictions: Int32Array }> {
    const params = { seqLen: layout.seqLen, batch: batch.batchSize, globalTokens: Math.max(1, countTargets(batch.targets)) };
    const results = await this.coordinator.runJob('eval-step', shardTokenBatch(layout, batch.inputs, batch.targets, batch.batchSize, prevLags, batch).map((tensors) => ({ params, tensors })));
    return {
      loss: results.reduce((a, r) => a + r.meta.loss, 0),
      predictions: gatherTokenBatch(layout, results.map((r) => r.tensors.predictions.data), batch.batchSize),
    };
  }

  /**
   * The replicas' state, streamed in chunks from rank 0 (every rank reports its hash, and they
   * must agree): parameters with their shapes, and with `optimizer` AdamW's moments.
   */
  async getState(optimizer: boolean): Promise<{ state: Bulk; hash: string; optimizerStep: number }> {
    const results = await this.coordinator.runJob('get-state', Array.from({ length: this.workers }, (_, r) => ({ params: { send: r === 0, optimizer }, tensors: {} })));
    const hash = sameHash(results.map((r) => r.meta.hash), 'get-state');
    return { state: required(results[0].bulk, 'state', 0), hash, optimizerStep: results[0].meta.optimizerStep };
  }

  /** Loads a state into every replica (streamed in chunks); returns the common parameter hash. */
  async setState(state: Bulk, optimizerStep?: number): Promise<string> {
    const results = await this.coordinator.runOnAll('set-state', { params: { optimizerStep }, tensors: {}, bulk: state });
    return sameHash(results.map((r) => r.meta.hash), 'set-state');
  }
}

/** The one hash every rank reported, or REPLICA_DIVERGED. */
export function sameHash(hashes: readonly string[], after: string): string {
  if (new Set(hashes).size !== 1) {
    throw new RingtrainError('REPLICA_DIVERGED', `parameters differ across ranks after ${after}: ${hashes.map((h, r) => `rank ${r} ${h.slice(0, 12)}`).join(', ')}`, {
      hint: 'replicas must stay bit-identical; this is a bug in the all-reduce or the optimizer — please report it with the run directory',
    });
  }
  return hashes[0];
}

/** The schema proved a trace comes whole or not at all (checkTrace); a traced step needs it. */
function rankTrace(r: RankResult<'train-step'>): RankTrace {
  const { meta, tensors } = r;
  const times = required(tensors.traceTimes, 'trace', r.rank);
  return {
    rank: r.rank, sentAtMs: r.sentAtMs, receivedAtMs: r.receivedAtMs,
    recvAtMs: meta.recvAtMs!, sendAtMs: meta.sendAtMs!, originMs: meta.traceOriginMs!, // present with traceTimes (checkTrace)
    times: times.data, codes: tensors.traceCodes!.data, dropped: meta.traceDropped ?? 0,
  };
}

function required<T>(v: T | undefined, what: string, rank: number): T {
  if (v === undefined) throw new RingtrainError('BAD_RESULT', `rank ${rank} returned no ${what}`);
  return v;
}
