import type { WorkerSummary } from '@ringtrain/coordinator';
import type { StrategyName } from '@ringtrain/worker';

export const CHECKED_TENSORS = ['out', 'dq', 'dk', 'dv'] as const;
export type CheckedTensor = (typeof CHECKED_TENSORS)[number];

export interface CaseErrors {
  maxAbs: number;
  maxRel: number;
}

export interface CheckCase {
  strategy: StrategyName;
  /** hybrid: ranks per Ulysses group, and the layout of the ring across groups. */
  ulyssesDegree?: number;
  ringLayout?: string;
  workers: number;
  seqLen: number;
  causal: boolean;
  errors: Record<CheckedTensor, CaseErrors>;
  /** Slowest rank's forward and backward wall time. */
  forwardMs: number;
  backwardMs: number;
  /** With documents: how many, and each rank's forward attention FLOPs under the mask (4·D·H per visible query–key pair). */
  documents?: number;
  attentionFlopsPerRank?: number[];
}

export interface CheckReport {
  ok: boolean;
  tolerance: number;
  cases: CheckCase[];
  /** Each rank's backend and device, as it reported them. */
  workers: WorkerSummary[];
}

/** One line per distinct backend/device of the workers, e.g. "ranks 0-1: webgpu on NVIDIA H200 (nvidia)". */
export function describeWorkers(workers: readonly WorkerSummary[]): string {
  const groups = new Map<string, number[]>();
  for (const w of workers) groups.set(`${w.backend} on ${w.device}`, [...(groups.get(`${w.backend} on ${w.device}`) ?? []), w.rank]);
  return [...groups].map(([what, ranks]) => `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')}: ${what}`).join('; ');
}

/** `hybrid U=2×R=3 zigzag` for a hybrid, else the name. */
export function strategyLabel(c: Pick<CheckCase, 'strategy' | 'ulyssesDegree' | 'ringLayout' | 'workers'>): string {
  return c.ulyssesDegree === undefined ? c.strategy : `${c.strategy} U=${c.ulyssesDegree}×R=${c.workers / c.ulyssesDegree} ${c.ringLayout}`;
}

export function caseOk(c: CheckCase, tolerance: number): boolean {
  return CHECKED_TENSORS.every((t) => c.errors[t].maxRel <= tolerance);
}

/** The `--json` shape promised by the issue: {"ok", "cases": [{strategy, workers, seqLen, causal, errors}]}. */
export function reportJson(report: CheckReport): string {
  return JSON.stringify({
    ok: report.ok,
    tolerance: report.tolerance,
    workers: report.workers,
    cases: report.cases.map((c) => ({
      strategy: c.strategy,
      ...(c.ulyssesDegree !== undefined ? { ulyssesDegree: c.ulyssesDegree, ringLayout: c.ringLayout } : {}),
      workers: c.workers,
      seqLen: c.seqLen,
      causal: c.causal,
      ok: caseOk(c, report.tolerance),
      errors: c.errors,
      forwardMs: round(c.forwardMs),
      backwardMs: round(c.backwardMs),
      ...(c.attentionFlopsPerRank ? { documents: c.documents, attentionFlopsPerRank: c.attentionFlopsPerRank } : {}),
    })),
  });
}

/** A table for people: one row per strategy and tensor. */
export function reportTable(report: CheckReport): string {
  const rows = [['strategy', 'tensor', 'max abs err', 'max rel err', 'fwd ms', 'bwd ms', '']];
  for (const c of report.cases) {
    for (const t of CHECKED_TENSORS) {
      const e = c.errors[t];
      rows.push([
        t === 'out' ? strategyLabel(c) : '',
        t,
        e.maxAbs.toExponential(2),
        e.maxRel.toExponential(2),
        t === 'out' ? round(c.forwardMs).toString() : '',
        t === 'out' ? round(c.backwardMs).toString() : '',
        e.maxRel <= report.tolerance ? 'ok' : 'FAIL',
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  const c0 = report.cases[0];
  const head = c0 ? `workers ${c0.workers} (${describeWorkers(report.workers)}), seq-len ${c0.seqLen}, ${c0.causal ? 'causal' : 'not causal'}; tolerance ${report.tolerance} relative to max|reference|` : '';
  const balance = report.cases.filter((c) => c.attentionFlopsPerRank).map((c) => {
    const f = c.attentionFlopsPerRank!;
    const mean = f.reduce((a, b) => a + b, 0) / f.length;
    return `${strategyLabel(c)}: attention FLOPs per rank ${f.map((x) => (x / 1e6).toFixed(2)).join(', ')} M (max/mean ${(Math.max(...f) / mean).toFixed(2)})`;
  });
  if (balance.length > 0) lines.push(`${report.cases[0].documents} documents; forward attention work under the mask:`, ...balance.map((b) => `  ${b}`));
  const verdict = report.ok ? 'ok: every strategy matches the single-process reference' : 'FAILED: some error is above the tolerance';
  return [head, ...lines, verdict].join('\n');
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
