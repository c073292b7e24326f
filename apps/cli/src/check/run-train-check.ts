import type { Logger } from '@ringtrain/core';
import { strategyLayout, type ModelConfig, type OptimConfig } from '@ringtrain/config';
import { withLocalWorld, type WorkerSummary } from '@ringtrain/coordinator';
import { describeWorkers, strategyLabel } from './report';
import type { HybridConfig } from './config';
import { documentIds, documentLengths, type DocumentSpec } from './documents';
import { passkeyBatch } from '@ringtrain/data';
import { errorStats } from '@ringtrain/kernels';
import type { Bulk } from '@ringtrain/protocol';
import { AdamW, initParams, paramSpecs, referenceLossAndGrads, type Params, type StrategyName } from '@ringtrain/worker';

export interface TrainCheckCase {
  strategy: StrategyName;
  /** hybrid: ranks per Ulysses group, and the layout of the ring across groups. */
  ulyssesDegree?: number;
  ringLayout?: string;
  workers: number;
  loss: number;
  lossRef: number;
  gradNorm: number;
  gradNormRef: number;
  /** Largest per-tensor error of the all-reduced gradients, relative to max|reference| of that tensor (Infinity if ranks differ). */
  maxGradRelErr: number;
  /**
   * The update on its own: largest per-tensor error of the updated parameters against AdamW applied
   * (single-process) to the initial weights and the gradients the workers applied, relative to the
   * largest change of that tensor. Independent of lr, unlike maxParamRelErr.
   */
  maxUpdateRelErr: number;
  /** Largest per-tensor error of the updated parameters, relative to max|reference| of that tensor. */
  maxParamRelErr: number;
  ok: boolean;
}

export interface TrainCheckOptions {
  strategies: readonly StrategyName[];
  /** hybrid's degree and ring layout, when strategies name it. */
  hybrid?: HybridConfig;
  workers: number;
  seqLen: number;
  batchSize: number;
  model: ModelConfig;
  optim: OptimConfig;
  seed: number;
  tolerance: number;
  timeoutMs: number;
  /** Packed documents in every sequence (each its own lengths with --docs), and per-document RoPE positions. */
  documents?: DocumentSpec | null;
  perDocumentPositions?: boolean;
}

/**
 * `ringtrain check --train`: one training step with P real workers per strategy against a
 * single-process step on the same batch and initial weights — the whole model differentiated
 * end to end by tfjs (plain softmax attention), then the same AdamW update.
 */
export async function runTrainCheck(o: TrainCheckOptions, logger: Logger, workerCommand: readonly string[]): Promise<{ ok: boolean; cases: TrainCheckCase[]; workers: WorkerSummary[] }> {
  const batch = { ...passkeyBatch({ seqLen: o.seqLen, batchSize: o.batchSize, seed: o.seed, index: 0, split: 'train' }), ...packedDocuments(o) };

  logger.info(`reference: single-process training step, seq ${o.seqLen} × batch ${o.batchSize}`);
  const initial = initParams(o.model, o.seed);
  const refParams = copyParams(initial);
  const ref = referenceLossAndGrads(o.model, refParams, batch.inputs, batch.targets, o.batchSize, batch);
  const decayed = new Set(paramSpecs(o.model).filter((s) => s.decay).map((s) => s.name));
  const refStep = new AdamW(o.optim, decayed).step(refParams, ref.grads);

  const cases: TrainCheckCase[] = [];
  let workers: WorkerSummary[] = [];
  await withLocalWorld({ workers: o.workers, logger, workerCommand, jobTimeoutMs: o.timeoutMs }, async ({ coordinator, replicas }) => {
    workers = coordinator.workers;
    for (const strategy of o.strategies) {
      const hybrid = strategy === 'hybrid' ? o.hybrid : undefined;
      const layout = strategyLayout({ strategy, ...hybrid }, o.seqLen, o.workers);
      await replicas.init({ model: o.model, optim: o.optim, seed: o.seed, strategy, ...hybrid });
      // No hash check inside the step: replicas that differ are reported (as an infinite error), not thrown.
      const step = await replicas.step(layout, { ...batch, batchSize: o.batchSize }, o.model.prevTokenEmbed, { hashCheck: false, predictions: false, grads: true });
      let state: Bulk | null = null;
      try {
        state = (await replicas.getState(false)).state;
      } catch (err) {
        if ((err as { code?: string }).code !== 'REPLICA_DIVERGED') throw err;
      }
      const params = state ?? new Map();
      const grads = appliedGradients(step.grads ?? [], [...ref.grads.keys()]);
      let maxGradRelErr = grads === null ? Infinity : 0;
      if (grads !== null) for (const [name, g] of ref.grads) maxGradRelErr = Math.max(maxGradRelErr, errorStats(grads.get(name)!, g).rel);
      const maxUpdateRelErr = grads === null || state === null ? Infinity : updateError(o.optim, decayed, initial, grads, params);
      let maxParamRelErr = state !== null ? 0 : Infinity; // replicas must be identical
      if (state !== null) for (const [name, p] of refParams) maxParamRelErr = Math.max(maxParamRelErr, errorStats(floats(params, name), p).rel);
      const { loss, gradNorm } = step;
      const c: TrainCheckCase = {
        strategy, ...hybrid, workers: o.workers, loss, lossRef: ref.loss, gradNorm, gradNormRef: refStep.gradNorm, maxGradRelErr, maxUpdateRelErr, maxParamRelErr,
        ok:
          Math.abs(loss - ref.loss) <= o.tolerance * Math.abs(ref.loss) &&
          Math.abs(gradNorm - refStep.gradNorm) <= o.tolerance * refStep.gradNorm &&
          maxGradRelErr <= o.tolerance &&
          maxUpdateRelErr <= o.tolerance &&
          maxParamRelErr <= o.tolerance,
      };
      cases.push(c);
      logger.info(`${strategyLabel(c)}: loss ${loss.toFixed(6)} (ref ${ref.loss.toFixed(6)}), grad norm ${gradNorm.toFixed(6)} (ref ${refStep.gradNorm.toFixed(6)}), max grad rel err ${maxGradRelErr.toExponential(2)}, max update rel err ${maxUpdateRelErr.toExponential(2)}, max param rel err ${maxParamRelErr.toExponential(2)} ${c.ok ? 'ok' : 'FAIL'}`);
    }
  });
  return { ok: cases.every((c) => c.ok), cases, workers };
}

export function trainCheckTable(r: { ok: boolean; cases: TrainCheckCase[]; workers: WorkerSummary[] }, tolerance: number): string {
  const rows = [['strategy', 'workers', 'loss', 'loss ref', 'grad norm', 'grad norm ref', 'max grad rel err', 'max update rel err', 'max param rel err', '']];
  for (const c of r.cases) {
    rows.push([strategyLabel(c), String(c.workers), c.loss.toFixed(7), c.lossRef.toFixed(7), c.gradNorm.toFixed(7), c.gradNormRef.toFixed(7), c.maxGradRelErr.toExponential(2), c.maxUpdateRelErr.toExponential(2), c.maxParamRelErr.toExponential(2), c.ok ? 'ok' : 'FAIL']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return [
    `one training step per strategy vs the single-process step; tolerance ${tolerance} relative; ${describeWorkers(r.workers)}`,
    ...rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()),
    r.ok ? 'ok: every strategy matches the single-process step' : 'FAILED: some value is above the tolerance',
    ...(onlyParamsDiffer(r.cases, tolerance)
      ? [
          'note: the gradients and the update agree; only the parameters against the single-process step differ. Adam\'s first step moves',
          'each parameter by about lr·g/(|g|+eps), so fp32 rounding in a gradient near zero moves it by up to ~lr. Rerun with a smaller --lr.',
        ]
      : []),
  ].join('\n');
}

function onlyParamsDiffer(cases: readonly TrainCheckCase[], tolerance: number): boolean {
  const failed = cases.filter((c) => !c.ok);
  return (
    failed.length > 0 &&
    failed.every((c) => c.maxGradRelErr <= tolerance && c.maxUpdateRelErr <= tolerance && Number.isFinite(c.maxParamRelErr) && c.maxParamRelErr > tolerance && Math.abs(c.loss - c.lossRef) <= tolerance * Math.abs(c.lossRef))
  );
}

/** The gradients every rank applied, if all returned them and they are equal bit for bit; else null. */
function appliedGradients(perRank: readonly Bulk[], names: readonly string[]): Map<string, Float32Array> | null {
  if (perRank.length === 0) return null;
  const out = new Map<string, Float32Array>();
  for (const name of names) {
    const mine = perRank.map((g) => (g.has(name) ? floats(g, name) : undefined));
    const first = mine[0];
    if (first === undefined || !mine.every((m) => m !== undefined && m.length === first.length && m.every((x, i) => Object.is(x, first[i])))) return null;
    out.set(name, first);
  }
  return out;
}

/** maxUpdateRelErr: the workers' change to each parameter against AdamW's, run here on the initial weights and their gradients. */
function updateError(optim: OptimConfig, decayed: ReadonlySet<string>, initial: Params, grads: Map<string, Float32Array>, params: Bulk): number {
  const after = copyParams(initial);
  new AdamW(optim, new Set(decayed)).step(after, grads);
  let worst = 0;
  for (const [name, want] of after) {
    const start = initial.get(name)!;
    const got = floats(params, name);
    worst = Math.max(worst, errorStats(got.map((x, i) => x - start[i]), want.map((x, i) => x - start[i])).rel);
  }
  return worst;
}

/** A float32 tensor of a state, as a flat array (missing or int32: an empty array, which errorStats refuses as a length mismatch). */
function floats(state: Bulk, name: string): Float32Array {
  const t = state.get(name);
  return t?.dtype === 'float32' ? t.data : new Float32Array(0);
}

function copyParams(p: Params): Params {
  return new Map([...p].map(([name, v]) => [name, Float32Array.from(v)]));
}

/** [B, S] document ids (and RoPE positions inside documents) for every sequence, or nothing. */
function packedDocuments(o: TrainCheckOptions): { docs?: Int32Array; ropePos?: Int32Array } {
  if (!o.documents) return {};
  const S = o.seqLen;
  const docs = new Int32Array(o.batchSize * S);
  const ropePos = new Int32Array(o.batchSize * S);
  for (let b = 0; b < o.batchSize; b++) {
    const { ids, inDoc } = documentIds(documentLengths(o.documents, S, o.seed + 1 + b));
    docs.set(ids, b * S);
    ropePos.set(o.perDocumentPositions ? inDoc : Int32Array.from({ length: S }, (_, i) => i), b * S);
  }
  return o.perDocumentPositions ? { docs, ropePos } : { docs };
}
