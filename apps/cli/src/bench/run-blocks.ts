import * as tf from '@tensorflow/tfjs';
import { RingtrainError, SeededRandom, type Logger } from '@ringtrain/core';
import { createNativeKernel, ensureCpuBackend, loadNativeAddon, nativeStatus, toHeadMajor, type AttentionKernel } from '@ringtrain/kernels';
import { makeLayout, type LayoutName } from '@ringtrain/layout';
import type { KernelsConfig } from './kernels-config';
import { describeMachine, machineInfo, type MachineInfo } from './machine';

/**
 * `ringtrain bench kernels --blocks`: what a masked block costs against a full one. For each
 * --seq-lens S, the native kernel's causal forward + backward on every block a ring-family step
 * computes at P = 2 (S/2 queries × S/2 keys), the cases interleaved round by round (--reps
 * rounds after --warmup), so a burst of background load hits every case alike. Each case's
 * cost is reported as a share of the full block (ring's rank 1 ← rank 0, no mask), next to the
 * share of query-key pairs it actually sees: an ideal kernel's cost share equals its work share.
 */
export interface BlockCase {
  name: string;
  posQ: Int32Array;
  posK: Int32Array;
  /** Visible (query, key) pairs as a share of all of them. */
  work: number;
}

export interface BlockTiming {
  name: string;
  work: number;
  /** Fastest round. */
  fwdMs: number;
  bwdMs: number;
  /** Fastest forward + backward as a share of the full block's fastest. */
  costMin: number;
  /** Median forward + backward as a share of the full block's median. */
  costMedian: number;
}

export interface BlocksReport {
  machine: MachineInfo;
  threads: number;
  heads: number;
  headDim: number;
  reps: number;
  sizes: Array<{ seqLen: number; block: number; cases: BlockTiming[] }>;
}

/** The blocks of a P = 2 step at sequence length S, the full one first. */
export function blockCases(seqLen: number): BlockCase[] {
  const at = (layout: LayoutName, rank: number) => makeLayout(layout, seqLen, 2).positions(rank);
  const pair = (name: string, layout: LayoutName, q: number, k: number): BlockCase => {
    const posQ = at(layout, q);
    const posK = at(layout, k);
    return { name, posQ, posK, work: visibleShare(posQ, posK) };
  };
  return [
    pair('full (ring 1 <- 0)', 'contiguous', 1, 0),
    pair('ring diagonal (0 <- 0)', 'contiguous', 0, 0),
    pair('striped diagonal (0 <- 0)', 'striped', 0, 0),
    pair('striped 0 <- 1 (keys strictly before)', 'striped', 0, 1),
    pair('striped 1 <- 0 (keys at or before)', 'striped', 1, 0),
    pair('zigzag diagonal (0 <- 0)', 'zigzag', 0, 0),
    pair('zigzag 0 <- 1', 'zigzag', 0, 1),
    pair('zigzag 1 <- 0', 'zigzag', 1, 0),
  ];
}

/** Causal (query, key) pairs with posK ≤ posQ, as a share of all pairs; both lists increasing. */
export function visibleShare(posQ: Int32Array, posK: Int32Array): number {
  let seen = 0;
  let j = 0;
  for (const q of posQ) {
    while (j < posK.length && posK[j] <= q) j++;
    seen += j;
  }
  return posQ.length * posK.length === 0 ? 0 : seen / (posQ.length * posK.length);
}

export async function runBlocksBench(cfg: KernelsConfig, logger: Logger): Promise<BlocksReport> {
  await ensureCpuBackend({ quiet: true });
  const addon = loadNativeAddon().addon;
  if (!addon) {
    throw new RingtrainError('NATIVE_UNAVAILABLE', `bench kernels --blocks needs the native kernel: ${nativeStatus().reason}`, {
      hint: 'Build it with `npm run build` (a C++ compiler and OpenBLAS), or time the other kernels without --blocks.',
    });
  }
  const kernel = createNativeKernel(addon, { threads: cfg.threads });
  const report: BlocksReport = {
    machine: machineInfo(),
    threads: cfg.threads || addon.info().defaultThreads,
    heads: cfg.heads,
    headDim: cfg.headDim,
    reps: cfg.reps,
    sizes: [],
  };
  for (const seqLen of cfg.seqLens) {
    const cases = blockCases(seqLen);
    const b = cases[0].posQ.length;
    const runs = timeInterleaved(kernel, cases, cfg);
    const total = (r: [number, number]) => r[0] + r[1];
    const fastest = runs.map((rs) => rs.reduce((a, r) => (total(r) < total(a) ? r : a)));
    const median = runs.map((rs) => rs.map(total).sort((x, y) => x - y)[(rs.length - 1) >> 1]);
    const timings = cases.map((c, i) => ({
      name: c.name,
      work: c.work,
      fwdMs: fastest[i][0],
      bwdMs: fastest[i][1],
      costMin: total(fastest[i]) / total(fastest[0]),
      costMedian: median[i] / median[0],
    }));
    for (const t of timings) {
      logger.info(`S ${seqLen} ${t.name}: fwd ${t.fwdMs.toFixed(0)} ms, bwd ${t.bwdMs.toFixed(0)} ms, cost ${t.costMin.toFixed(3)} of full (work ${t.work.toFixed(3)})`);
    }
    report.sizes.push({ seqLen, block: b, cases: timings });
  }
  return report;
}

/** [case][round] = [forward ms, backward ms], the rounds after the warmup. */
function timeInterleaved(kernel: AttentionKernel, cases: BlockCase[], cfg: KernelsConfig): Array<Array<[number, number]>> {
  const { heads: H, headDim: D } = cfg;
  const b = cases[0].posQ.length;
  const rng = new SeededRandom(cfg.seed + b);
  const [q, k, v, dout] = [0, 1, 2, 3].map(() => toHeadMajor(rng.normalArray(b * H * D), b, H, D));
  const scale = 1 / Math.sqrt(D);
  const runs: Array<Array<[number, number]>> = cases.map(() => []);
  try {
    for (let round = 0; round < cfg.warmup + cfg.reps; round++) {
      cases.forEach((c, i) => {
        const inp = { q, k, v, posQ: c.posQ, posK: c.posK, causal: true, scale };
        const t0 = performance.now();
        const f = kernel.forward(inp);
        const t1 = performance.now();
        const g = kernel.backward({ ...inp, dout, out: f.out, lse: f.lse });
        const t2 = performance.now();
        tf.dispose([f.out, f.lse, g.dq, g.dk, g.dv]);
        if (round >= cfg.warmup) runs[i].push([t1 - t0, t2 - t1]);
      });
    }
  } finally {
    tf.dispose([q, k, v, dout]);
  }
  return runs;
}

export function blocksTable(r: BlocksReport): string {
  const lines = [
    `masked blocks vs a full block: native kernel, causal, ${r.heads} heads, head dim ${r.headDim}, ${r.threads} thread(s), fastest of ${r.reps} interleaved rounds`,
    `machine: ${describeMachine(r.machine)}`,
  ];
  for (const s of r.sizes) {
    lines.push('', `S = ${s.seqLen} (P = 2 blocks of ${s.block} x ${s.block})`);
    lines.push(`${'block'.padEnd(40)} ${'work'.padStart(6)} ${'fwd ms'.padStart(8)} ${'bwd ms'.padStart(8)} ${'cost'.padStart(6)} ${'median'.padStart(7)}`);
    for (const c of s.cases) {
      lines.push(
        `${c.name.padEnd(40)} ${c.work.toFixed(3).padStart(6)} ${c.fwdMs.toFixed(0).padStart(8)} ${c.bwdMs.toFixed(0).padStart(8)} ${c.costMin.toFixed(3).padStart(6)} ${c.costMedian.toFixed(3).padStart(7)}`,
      );
    }
  }
  lines.push('', 'work: visible query-key pairs as a share of the block; cost: fastest fwd + bwd as a share of the full block\'s; median: the same from medians.');
  return lines.join('\n');
}
