import type { ModelConfig } from '@ringtrain/config';
import { simulateStep, type Link, type SimProblem, type StepEstimate } from '../bench/sim-model';
import { candidateLabel, planCandidates, type Candidate } from './candidates';
import { rankMemory, type RankMemory } from './memory';
import { whyLoses } from './why';

/**
 * `ringtrain plan`'s ranking, pure: every candidate (candidates.ts) through the step-time model
 * (sim-model.ts) and the memory estimate (memory.ts), sorted by predicted step time, those that
 * fit first, then those that do not fit, then those that cannot run; the first is the winner and
 * every other row says in one sentence why it loses (why.ts).
 */
export interface PlanInput {
  readonly problem: SimProblem;
  readonly link: Link;
  /** F: one rank's attention kernel, useful FLOP/s (flops.ts). */
  readonly flopsPerSec: number;
  /** What one rank may hold. */
  readonly memoryPerRankBytes: number;
  /** Size the whole training worker of this model, not the attention layer alone. */
  readonly model: ModelConfig | null;
  /** Consider hybrid at this degree only. */
  readonly ulyssesDegree?: number;
}

export interface PlanRow {
  readonly candidate: Candidate;
  readonly label: string;
  readonly estimate: StepEstimate;
  /** null when the strategy cannot run the problem. */
  readonly memory: RankMemory | null;
  readonly fits: boolean;
  /** Why it loses to the winner; null for the winner. */
  why: string | null;
}

export interface Plan {
  readonly rows: readonly PlanRow[];
  /** null: nothing fits (plan-config.ts then refuses, naming what would). */
  readonly winner: PlanRow | null;
}

export function rankPlan(input: PlanInput): Plan {
  const rows = bestLayoutPerDegree(planCandidates(input.problem.heads, input.problem.workers, input.ulyssesDegree).map((c) => evaluate(c, input)));
  rows.sort((a, b) => order(a) - order(b) || stepOf(a) - stepOf(b));
  const winner = rows.find((r) => r.estimate.feasible && r.fits) ?? null;
  for (const r of rows) r.why = r === winner ? null : whyLoses(r, winner, input);
  return { rows, winner };
}

function evaluate(candidate: Candidate, input: PlanInput): PlanRow {
  const estimate = simulateStep(candidate.strategy, input.problem, input.link, input.flopsPerSec, candidate.hybrid);
  const memory = estimate.feasible ? rankMemory(candidate, input.problem, input.model) : null;
  return { candidate, label: candidateLabel(candidate), estimate, memory, fits: memory !== null && memory.bytes <= input.memoryPerRankBytes, why: null };
}

/** Of hybrid's rows at one degree, the fastest layout (the first on a tie: ring, striped, zigzag). */
function bestLayoutPerDegree(rows: PlanRow[]): PlanRow[] {
  const best = new Map<number, PlanRow>();
  const kept: PlanRow[] = [];
  for (const r of rows) {
    const u = r.candidate.hybrid?.ulyssesDegree;
    if (u === undefined) {
      kept.push(r);
      continue;
    }
    const seen = best.get(u);
    if (!seen || stepOf(r) < stepOf(seen)) best.set(u, r);
  }
  return [...kept, ...best.values()];
}

const order = (r: PlanRow) => (!r.estimate.feasible ? 2 : r.fits ? 0 : 1);
const stepOf = (r: PlanRow) => (r.estimate.feasible ? r.estimate.stepSec : Infinity);
