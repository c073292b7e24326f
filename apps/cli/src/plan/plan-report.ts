import { fmtMs } from '../bench/attention-report';
import { formatBytes, formatTable, formatTokens, sig } from '../bench/stats';
import type { Calibration } from './calibrate';
import type { PlanConfig } from './plan-config';
import type { Plan, PlanRow } from './rank';

/** `ringtrain plan`'s output: what was planned, from which figures, the ranked table, the winner, why each other loses. */
export interface PlanReport {
  readonly config: PlanConfig;
  readonly calibration: Calibration;
  readonly plan: Plan;
}

/**
 * --json: {"problem", "calibration": {"flopsPerSec", "flopsSource", "link", "linkSource"},
 * "memoryPerRankBytes", "winner": {"strategy", "ulyssesDegree"?, "ringLayout"?}, "rows": [{"label",
 * "strategy", "feasible", "stepMs", "forwardMs", "backwardMs", "exposedCommFraction", "efficiency",
 * "bytesSentPerRank", "memoryPerRankBytes", "fits", "why"}]}.
 */
export function planJson(r: PlanReport): string {
  const { config: c, calibration: k, plan } = r;
  return JSON.stringify({
    problem: c.problem,
    model: c.model,
    calibration: { flopsPerSec: sig(k.flopsPerSec), flopsSource: k.flopsSource, link: k.link, linkSource: k.linkSource },
    memoryPerRankBytes: c.memoryPerRankBytes,
    memorySource: c.memorySource,
    winner: plan.winner && { strategy: plan.winner.candidate.strategy, ...plan.winner.candidate.hybrid, label: plan.winner.label },
    rows: plan.rows.map(rowJson),
  });
}

function rowJson(row: PlanRow) {
  const e = row.estimate;
  return {
    label: row.label,
    strategy: row.candidate.strategy,
    ...row.candidate.hybrid,
    feasible: e.feasible,
    ...(e.feasible
      ? {
          stepMs: sig(e.stepSec * 1000),
          forwardMs: sig(e.forwardSec * 1000),
          backwardMs: sig(e.backwardSec * 1000),
          computeMs: sig(e.computeSec * 1000),
          exposedCommFraction: sig(e.exposedCommSec / e.stepSec, 3),
          efficiency: sig(e.efficiency, 3),
          bytesSentPerRank: e.bytesSentPerRank,
        }
      : { reason: e.reason }),
    memoryPerRankBytes: row.memory?.bytes ?? null,
    fits: row.fits,
    why: row.why,
  };
}

export function planTable(r: PlanReport): string {
  const { config: c, calibration: k, plan } = r;
  const p = c.problem;
  const lines = [
    `plan: P = ${p.workers}, S = ${formatTokens(p.seqLen)} (${formatTokens(Math.floor(p.seqLen / p.workers))} tokens per rank), heads ${p.heads}/${p.kvHeads} of ${p.headDim}, ${p.causal ? 'causal' : 'not causal'}, fp32 on the wire; one attention layer forward + backward (sim-model.ts)`,
    `kernel ${k.flopsPerSec >= 1e12 ? `${(k.flopsPerSec / 1e12).toFixed(1)} TFLOP/s` : `${(k.flopsPerSec / 1e9).toFixed(1)} GFLOP/s`} per rank: ${k.flopsSource}`,
    `link ${k.link.name}: ${(k.link.bytesPerSec / 1e9).toFixed(2)} GB/s per rank, ${(k.link.latencySec * 1e6).toFixed(1)} µs per message: ${k.linkSource}`,
    `memory per rank ${c.model ? `(a training worker of the model: ${c.model.layers} layers, d ${c.model.dModel}, batch 1)` : '(the attention layer\'s worker)'}: at most ${formatBytes(c.memoryPerRankBytes)}, ${c.memorySource}`,
    '',
  ];
  const rows = [['#', 'strategy', 'step', 'fwd', 'bwd', 'exposed comm', 'efficiency', 'sent/rank', 'memory/rank', 'fits']];
  plan.rows.forEach((row, i) => {
    const e = row.estimate;
    rows.push(e.feasible
      ? [String(i + 1), row.label, fmtMs(e.stepSec * 1000), fmtMs(e.forwardSec * 1000), fmtMs(e.backwardSec * 1000), `${((e.exposedCommSec / e.stepSec) * 100).toFixed(0)}%`, e.efficiency.toFixed(2), formatBytes(e.bytesSentPerRank), formatBytes(row.memory!.bytes), row.fits ? 'yes' : 'no']
      : [String(i + 1), row.label, '-', '-', '-', '-', '-', '-', '-', 'n/a']);
  });
  lines.push(formatTable(rows, [true, false, true, true, true, true, true, true, true, false]));
  lines.push('');
  const w = plan.winner;
  if (w && w.estimate.feasible) lines.push(`winner: ${w.label}, ${fmtMs(w.estimate.stepSec * 1000)} a step, efficiency ${w.estimate.efficiency.toFixed(2)}`);
  for (const row of plan.rows) if (row.why) lines.push(`  ${row.label}: ${row.why}`);
  return lines.join('\n');
}
