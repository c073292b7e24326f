import { RingtrainError } from '@ringtrain/core';
import { MAX_TOKENS, MAX_WORKERS, largestFitting, type MemoryEstimate } from '@ringtrain/config';
import { formatBytes } from '../bench/stats';
import { rankPlan, type Plan, type PlanInput } from './rank';

/**
 * Refuses (`WONT_FIT`, exit 2) a plan where no strategy fits a rank's memory, naming the
 * option, its value and the nearest values that work: the longest --seq-len at which some
 * strategy fits, and the fewest --workers (doubling) at which one does.
 */
export function assertSomethingFits(plan: Plan, input: PlanInput): void {
  if (plan.winner) return;
  const { seqLen: S, workers: P } = input.problem;
  const fits = (change: Partial<PlanInput['problem']>) => rankPlan({ ...input, problem: { ...input.problem, ...change } }).winner !== null;
  // largestFitting reads "fits" as workers·perWorker + beside ≤ machine: one rank, nothing beside.
  const asEstimate = (ok: boolean): MemoryEstimate => ({ workers: 1, perWorkerBytes: ok ? 0 : 2, besideBytes: 0, beside: '', parts: {} });
  const seqLen = largestFitting({ option: '--seq-len', value: S, min: P, max: MAX_TOKENS, estimate: (v) => asEstimate(fits({ seqLen: v })) }, 1);
  let workers: number | null = null;
  for (let w = P * 2; w <= Math.min(MAX_WORKERS, S); w *= 2) {
    if (fits({ workers: w })) {
      workers = w;
      break;
    }
  }
  const least = plan.rows.filter((r) => r.memory).reduce<Plan['rows'][number] | null>((a, r) => (!a || r.memory!.bytes < a.memory!.bytes ? r : a), null);
  const fixes = [...(seqLen !== null ? [`--seq-len ${seqLen}`] : []), ...(workers !== null ? [`--workers ${workers}`] : [])];
  throw new RingtrainError('WONT_FIT', `no strategy fits --seq-len ${S} on --workers ${P} in ${formatBytes(input.memoryPerRankBytes)} per rank${least ? `: the least, ${least.label}, needs ${formatBytes(least.memory!.bytes)} per rank` : ''}`, {
    hint: fixes.length > 0 ? `the nearest that fit, changing one at a time: ${fixes.join(', ')}; or more memory per rank (--memory-gib)` : 'no shorter sequence or more workers alone fits: give more memory per rank (--memory-gib) or a smaller model',
    details: { option: '--seq-len', value: S, workers: P, nearest: { seqLen, workers }, memoryPerRankBytes: input.memoryPerRankBytes },
  });
}
