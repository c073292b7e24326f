import { SeededRandom, type Logger } from '@ringtrain/core';
import { errorStats, referenceBackward, referenceForward } from '@ringtrain/kernels';
import { strategyLayout } from '@ringtrain/config';
import { gatherRows } from '@ringtrain/layout';
import { withLocalWorld } from '@ringtrain/coordinator';
import type { CheckConfig } from './config';
import { writeDump } from './dump';
import { shardAttentionInputs } from './shard-inputs';
import { documentIds, documentLengths, visiblePairsPerRank } from './documents';
import type { Layout } from '@ringtrain/layout';
import type { StrategyName } from '@ringtrain/worker';
import { CHECKED_TENSORS, caseOk, strategyLabel, type CheckCase, type CheckReport, type CheckedTensor } from './report';

/**
 * `ringtrain check`: P real worker processes on loopback run every requested strategy, forward
 * and backward, on one seeded problem; every result is gathered into global order and compared
 * with the single-process reference.
 */
export async function runCheck(cfg: CheckConfig, logger: Logger, workerCommand: readonly string[]): Promise<CheckReport> {
  const { problem, workers: P } = cfg;
  const { seqLen: S, heads: H, kvHeads: Hkv, headDim: D, causal, scale } = problem;
  const rng = new SeededRandom(cfg.seed);
  const inputs = {
    q: rng.normalArray(S * H * D),
    k: rng.normalArray(S * Hkv * D),
    v: rng.normalArray(S * Hkv * D),
    dout: rng.normalArray(S * H * D),
  };

  const lens = cfg.documents ? documentLengths(cfg.documents, S, cfg.seed + 1) : null;
  const docs = lens ? documentIds(lens) : null;
  logger.info(`reference: single-process attention, seq ${S}, heads ${H}/${Hkv}, head dim ${D}, ${causal ? 'causal' : 'not causal'}${lens ? `, ${lens.length} documents (${lens.join(', ')})` : ''}`);
  const pos = Int32Array.from({ length: S }, (_, i) => i);
  const docDims = docs ? { docQ: docs.ids, docK: docs.ids } : {};
  const dims = { seqQ: S, seqK: S, heads: H, kvHeads: Hkv, headDim: D, posQ: pos, posK: pos, ...docDims, causal, scale };
  const refFwd = referenceForward({ ...inputs, ...dims });
  const refGrads = referenceBackward({ ...inputs, ...dims, out: refFwd.out, lse: refFwd.lse });
  const reference: Record<CheckedTensor, Float32Array> = { out: refFwd.out, ...refGrads };

  const cases: CheckCase[] = [];
  let workers: CheckReport['workers'] = [];
  await withLocalWorld({ workers: P, logger, workerCommand, jobTimeoutMs: cfg.timeoutMs }, async ({ coordinator }) => {
    workers = coordinator.workers;
    for (const [i, name] of cfg.strategies.entries()) {
      const hybrid = name === 'hybrid' ? cfg.hybrid : null;
      const layout = strategyLayout({ strategy: name, ...hybrid }, S, P);
      const params = { strategy: name, ...(hybrid ? { ulyssesDegree: hybrid.ulyssesDegree } : {}), seqLen: S, heads: H, kvHeads: Hkv, headDim: D, causal, scale };
      const results = await coordinator.runJob('attention', Array.from({ length: P }, (_, r) => ({ params, tensors: shardAttentionInputs(inputs, problem, layout, r, docs?.ids) })));
      const gathered = {} as Record<CheckedTensor, Float32Array>;
      const errors = {} as CheckCase['errors'];
      for (const t of CHECKED_TENSORS) {
        const rowSize = (t === 'dk' || t === 'dv' ? Hkv : H) * D;
        gathered[t] = gatherRows(layout, results.map((r) => r.tensors[t].data), rowSize);
        const e = errorStats(gathered[t], reference[t]);
        errors[t] = { maxAbs: e.maxAbs, maxRel: e.rel };
      }
      const c: CheckCase = {
        strategy: name, ...(hybrid ? hybrid : {}), workers: P, seqLen: S, causal, errors,
        ...(lens && docs ? { documents: lens.length, attentionFlopsPerRank: pairsPerRank(name, layout, docs, lens, causal, P).map((n) => 4 * D * H * n) } : {}),
        forwardMs: Math.max(...results.map((r) => r.meta.forwardMs)),
        backwardMs: Math.max(...results.map((r) => r.meta.backwardMs)),
      };
      cases.push(c);
      const worst = Math.max(...CHECKED_TENSORS.map((t) => errors[t].maxRel));
      logger.info(`[${i + 1}/${cfg.strategies.length}] ${strategyLabel(c)}: max rel err ${worst.toExponential(2)} ${caseOk(c, cfg.tolerance) ? 'ok' : 'FAIL'} (fwd ${c.forwardMs.toFixed(0)} ms, bwd ${c.backwardMs.toFixed(0)} ms)`);
      if (i === 0 && cfg.dumpDir) {
        writeDump(cfg.dumpDir, { ...inputs, ...gathered }, { seqLen: S, heads: H, kvHeads: Hkv, headDim: D }, { causal, scale, strategy: name, workers: P, seed: cfg.seed, docMask: docs !== null, ...(lens ? { docLens: lens } : {}) }, docs?.ids);
        logger.info(`wrote ${name} inputs and results to ${cfg.dumpDir}`);
      }
    }
  });
  return { ok: cases.every((c) => caseOk(c, cfg.tolerance)), tolerance: cfg.tolerance, cases, workers };
}

/**
 * Query–key pairs each rank computes under the document mask: its own queries for the ring
 * family and rsa; Ulysses splits heads, so every rank does the same share of all pairs; hybrid
 * splits heads inside each group, so a group's ranks share its queries' pairs.
 */
function pairsPerRank(name: StrategyName, layout: Layout, docs: { ids: Int32Array; inDoc: Int32Array }, lens: number[], causal: boolean, P: number): number[] {
  const perRank = visiblePairsPerRank(layout, docs.inDoc, causal, lens, docs.ids);
  const U = name === 'ulysses' ? P : name === 'hybrid' ? layout.groupSize : 1;
  if (U === 1) return perRank;
  return perRank.map((_, r) => {
    const first = r - (r % U);
    return perRank.slice(first, first + U).reduce((a, b) => a + b, 0) / U;
  });
}
