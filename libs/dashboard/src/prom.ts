import type { RunSnapshot, WorkerSnapshot } from '@ringtrain/telemetry';
import type { RunState } from './run-state';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** What GET /metrics reports, from what the dashboard read of the run directory. */
export function runSnapshotOf(state: RunState): RunSnapshot {
  const m = state.latestMetrics();
  const ev = state.latest('eval');
  const workers: WorkerSnapshot[] = [];
  const seen = new Set<number>();
  for (const w of state.workers.value ?? []) {
    const rank = num(w.rank);
    if (rank === undefined || !Number.isSafeInteger(rank) || rank < 0 || seen.has(rank)) continue;
    seen.add(rank);
    const rss = num(w.rssBytes);
    workers.push({ rank, host: typeof w.host === 'string' ? w.host : '', state: typeof w.state === 'string' ? w.state : 'unknown', ...(rss !== undefined && rss >= 0 ? { rssBytes: rss } : {}) });
  }
  // restarts.jsonl has a record per restart ({"restart", "of", ...}) and, after `train`'s own
  // restarts, a second line when training is going again ({"restart", "trainingAgainAtStep"}).
  const restarts = new Set(state.rows('restarts').filter((r) => 'of' in r).map((r) => r.restart)).size;
  const step = num(m?.step);
  return {
    step: step !== undefined && step >= 0 ? Math.floor(step) : 0,
    loss: num(m?.loss),
    lr: num(m?.lr),
    gradNorm: num(m?.gradNorm),
    tokensPerSec: num(m?.tokensPerSec),
    stepMs: num(m?.stepMs),
    evalLoss: num(ev?.loss),
    taskAccuracy: num(m?.taskAccuracy),
    checkpoints: state.count('checkpoints'),
    restarts,
    workers,
  };
}
