import { STRATEGY_NAMES, type AttentionProblem, type StrategyName } from '@ringtrain/worker';
import type { SimulateConfig } from './attention-config';
import { hiddenFromTokens, simulateStep, type Link } from './sim-model';

/** `bench attention --simulate`: sim-model.ts applied over P × S × strategy × link. */
export interface SimulationRow {
  link: string;
  strategy: StrategyName;
  workers: number;
  seqLen: number;
  feasible: boolean;
  reason?: string;
  stepMs?: number;
  efficiency?: number;
  exposedCommFraction?: number;
  bytesPerRank?: number;
  scoreMemoryBytes?: number;
}

export interface SimulationReport {
  flopsPerSec: number;
  flopsSource: string;
  heads: number;
  kvHeads: number;
  headDim: number;
  causal: boolean;
  links: Link[];
  workers: number[];
  seqLens: number[];
  rows: SimulationRow[];
  /** Per link and strategy: tokens per rank (S/P) from which compute hides each ring step's transfer. */
  hiddenFrom: Array<{ link: string; strategy: StrategyName; tokensPerRank: number | null }>;
  /** The model at the measured point (P, S of this run, its transport as the link) beside the measurement. */
  checks: Array<{ strategy: StrategyName; modelMs: number | null; measuredMs: number }>;
}

export function projectStrategies(problem: AttentionProblem, sim: SimulateConfig, flopsPerSec: number, flopsSource: string): SimulationReport {
  const dims = { heads: problem.heads, kvHeads: problem.kvHeads, headDim: problem.headDim, causal: problem.causal };
  const rows: SimulationRow[] = [];
  const hiddenFrom: SimulationReport['hiddenFrom'] = [];
  for (const link of sim.links) {
    for (const strategy of STRATEGY_NAMES.filter((name) => name !== 'hybrid')) { // hybrid is not modelled
      hiddenFrom.push({ link: link.name, strategy, tokensPerRank: hiddenFromTokens(strategy, dims, link, flopsPerSec) });
      for (const seqLen of sim.seqLens) {
        for (const workers of sim.workers) {
          const e = simulateStep(strategy, { ...dims, workers, seqLen }, link, flopsPerSec);
          rows.push(e.feasible
            ? {
                link: link.name, strategy, workers, seqLen, feasible: true,
                stepMs: e.stepSec * 1000,
                efficiency: e.efficiency,
                exposedCommFraction: e.exposedCommSec / e.stepSec,
                bytesPerRank: e.bytesSentPerRank,
                scoreMemoryBytes: e.scoreMemoryBytes,
              }
            : { link: link.name, strategy, workers, seqLen, feasible: false, reason: e.reason });
        }
      }
    }
  }
  return { flopsPerSec, flopsSource, ...dims, links: [...sim.links], workers: [...sim.workers], seqLens: [...sim.seqLens], rows, hiddenFrom, checks: [] };
}
