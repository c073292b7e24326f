import { hiddenFromTokens, hybridKvHeads, ringStepShare, type StepEstimate } from '../bench/sim-model';
import { formatBytes } from '../bench/stats';
import type { PlanInput, PlanRow } from './rank';

/**
 * One sentence per losing candidate, from the model's own numbers: what it cannot do, what it
 * cannot hold, or which of the step's two parts (compute on the critical path, communication
 * not hidden) makes it slower than the winner, and by how much.
 */
export function whyLoses(row: PlanRow, winner: PlanRow | null, input: PlanInput): string {
  const e = row.estimate;
  if (!e.feasible) return `cannot run: ${e.reason}`;
  if (!row.fits) return doesNotFit(row, e, input);
  if (!winner || !winner.estimate.feasible) return 'nothing fits';
  const w = winner.estimate;
  const slower = (e.stepSec - w.stepSec) / w.stepSec;
  const by = `${pct(slower)} slower than ${winner.label}`;
  if (slower < 0.005) return `ties with ${winner.label}: predicted within 0.5% of it, the model cannot tell them apart`;
  const dCompute = e.computeSec - w.computeSec;
  const dExposed = e.exposedCommSec - w.exposedCommSec;
  return `${dCompute >= dExposed ? moreCompute(row, e, w, input) : moreExposed(row, e, input)} (${by})`;
}

function doesNotFit(row: PlanRow, e: Extract<StepEstimate, { feasible: true }>, input: PlanInput): string {
  const limit = formatBytes(input.memoryPerRankBytes);
  if (e.scoreMemoryBytes > 0) return `stores ${formatBytes(e.scoreMemoryBytes)} of probabilities per rank (heads × S/P × S × 4 B); needs ${formatBytes(row.memory!.bytes)} per rank, over the ${limit} a rank has`;
  const [part, bytes] = Object.entries(row.memory!.parts).reduce((a, b) => (b[1] > a[1] ? b : a));
  return `needs ${formatBytes(row.memory!.bytes)} per rank (most of it ${part}: ${formatBytes(bytes)}), over the ${limit} a rank has`;
}

type Feasible = Extract<StepEstimate, { feasible: true }>;

function moreCompute(row: PlanRow, e: Feasible, w: Feasible, input: PlanInput): string {
  const both = `critical-path compute ${ms(e.computeSec)} against ${ms(w.computeSec)}`;
  const { problem: p } = input;
  const layout = row.candidate.hybrid?.ringLayout ?? row.candidate.strategy;
  if (row.candidate.strategy === 'rsa') return `computes every score block, the masked half too, from stored probabilities (6 matmuls per block pair): ${both}`;
  if (p.causal && layout === 'ring') {
    const R = p.workers / (row.candidate.hybrid?.ulyssesDegree ?? 1);
    return `causal imbalance: its last rank computes ~${R} blocks while striped's compute ~${R / 2}: ${both}`;
  }
  return `more compute on its critical path: ${both}`;
}

function moreExposed(row: PlanRow, e: Feasible, input: PlanInput): string {
  const { problem: p, link } = input;
  const share = `exposed communication ${pct(e.exposedCommSec / e.stepSec)} of its step (${ms(e.exposedCommSec)})`;
  const dims = { heads: p.heads, kvHeads: p.kvHeads, headDim: p.headDim, causal: p.causal };
  switch (row.candidate.strategy) {
    case 'ulysses':
      return `${share}: its four all-to-alls over ${p.workers} ranks are not overlapped with compute`;
    case 'hybrid': {
      const { ulyssesDegree: U, ringLayout } = row.candidate.hybrid!;
      const hidden = hiddenFromTokens(ringLayout, { ...dims, heads: p.heads / U, kvHeads: hybridKvHeads(p.heads, p.kvHeads, U) }, link, input.flopsPerSec);
      return `${share}: its all-to-alls inside groups of ${U} are not overlapped, and its ring's ${tokens((p.seqLen * U) / p.workers)} tokens per step hide a ${link.name} transfer from ${tokens(hidden!)} tokens`;
    }
    default: {
      const hidden = hiddenFromTokens(row.candidate.strategy, dims, link, input.flopsPerSec)!;
      const f = row.candidate.strategy === 'rsa' ? 1 : ringStepShare(row.candidate.strategy, p.causal, 1);
      return `${share}: S/P = ${tokens(p.seqLen / p.workers)} tokens (${f < 1 ? 'half blocks under the mask' : 'full blocks'}) hide a ${link.name} transfer only from ${tokens(hidden)} tokens`;
    }
  }
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const tokens = (n: number) => `${Math.ceil(n)}`;

function ms(sec: number): string {
  const m = sec * 1000;
  return m >= 100 ? `${m.toFixed(0)} ms` : `${m.toPrecision(3)} ms`;
}
