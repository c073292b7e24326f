import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isRingtrainError } from '@ringtrain/core';
import { loadConfigFile, loadResolvedConfig, machineMemoryBytes, type TrainConfig } from '@ringtrain/config';
import { fmtMs } from '../bench/attention-report';
import type { TrainFlags } from '../commands/train';
import { calibrate } from './calibrate';
import { rankPlan, type PlanRow } from './rank';

/**
 * `--strategy auto` (train, and the coordinator a scheduler starts with train's flags): resolved
 * once, before anything starts, into a concrete strategy (with hybrid's degree and ring layout)
 * by the planner, on the run's model dims (heads and K/V heads × batch: training folds the batch
 * into the heads), the main stage's sequence length and the workers, causal, calibrated as
 * `plan` is by default. The flags come back with the choice in place of `auto`, so config.json
 * holds it and a resumed run trains on exactly it: a run directory whose config.json exists
 * (`resumeFrom`) keeps its own strategy and is never planned again.
 *
 * `resolve` is train.ts's resolveFromFlags (the run's config with a stand-in strategy checks
 * every other flag first); a candidate the config then refuses (e.g. heads that do not split
 * under document masking) passes to the next in rank.
 */
export async function resolveAutoStrategy(f: TrainFlags, resolve: (f: TrainFlags) => TrainConfig, note: (line: string) => void, resumeFrom: string | null): Promise<TrainFlags> {
  const asked = f.strategy ?? (f.config ? loadConfigFile(f.config).strategy : undefined);
  if (asked !== 'auto') return f;
  if (resumeFrom && existsSync(join(resumeFrom, 'config.json'))) {
    const saved = loadResolvedConfig(join(resumeFrom, 'config.json'));
    note(`strategy auto → ${describe(saved)}: kept from ${join(resumeFrom, 'config.json')} (a resumed run is not planned again)`);
    return concrete(f, saved);
  }
  const base = resolve({ ...f, strategy: 'striped', ulyssesDegree: undefined, ringLayout: undefined });
  const m = base.model;
  const problem = { workers: base.workers, seqLen: base.seqLen, heads: m.heads * base.batchSize, kvHeads: m.kvHeads * base.batchSize, headDim: m.headDim, causal: true };
  const calibration = await calibrate(problem, {});
  const plan = rankPlan({ problem, link: calibration.link, flopsPerSec: calibration.flopsPerSec, memoryPerRankBytes: machineMemoryBytes() / base.workers, model: m });
  const ranked = plan.rows.filter((r) => r.estimate.feasible);
  for (const [i, row] of ranked.entries()) {
    const flags: TrainFlags = { ...f, strategy: row.candidate.strategy, ulyssesDegree: row.candidate.hybrid && String(row.candidate.hybrid.ulyssesDegree), ringLayout: row.candidate.hybrid?.ringLayout };
    try {
      resolve(flags);
    } catch (err) {
      if (isRingtrainError(err) && i < ranked.length - 1) continue;
      throw err;
    }
    const next = ranked[i + 1];
    note(`strategy auto → ${row.label}: predicted ${predicted(row)} (kernel ${(calibration.flopsPerSec / 1e9).toFixed(1)} GFLOP/s ${calibration.flopsSource.split(':')[0]}; link ${calibration.link.name}, ${(calibration.link.bytesPerSec / 1e9).toFixed(2)} GB/s)${next ? `; runner-up ${next.label}: ${predicted(next)}, ${next.why}` : ''}`);
    return flags;
  }
  return f; // unreachable: ring is always feasible
}

function predicted(row: PlanRow): string {
  return row.estimate.feasible ? `${fmtMs(row.estimate.stepSec * 1000)} per attention layer forward + backward` : 'n/a';
}

function describe(cfg: TrainConfig): string {
  return cfg.strategy === 'hybrid' ? `hybrid U=${cfg.ulyssesDegree} ${cfg.ringLayout}` : cfg.strategy;
}

function concrete(f: TrainFlags, cfg: TrainConfig): TrainFlags {
  return { ...f, strategy: cfg.strategy, ulyssesDegree: cfg.ulyssesDegree === undefined ? undefined : String(cfg.ulyssesDegree), ringLayout: cfg.ringLayout };
}
