import * as tf from '@tensorflow/tfjs';
import { SeededRandom, type Logger } from '@ringtrain/core';
import {
  createNativeKernel,
  ensureCpuBackend,
  installNativeKernels,
  loadNativeAddon,
  nativeKernelsInstalled,
  nativeStatus,
  referenceBackward,
  referenceForward,
  sgemm,
  tfjsKernel,
  toHeadMajor,
  uninstallNativeKernels,
  type AttentionKernel,
} from '@ringtrain/kernels';
import { FLOP_MODEL, gflops, selfAttention, trainFlops } from './flops';
import type { BenchKernelName, KernelsConfig } from './kernels-config';
import { machineInfo, type MachineInfo } from './machine';

/**
 * `ringtrain bench kernels`: in one process, the machine's sgemm GFLOP/s (the limit), then
 * forward + backward GFLOP/s of every attention kernel at every size, all under the FLOP model
 * of flops.ts, as ratios to the sgemm figure. Sizes estimated to take longer than
 * --max-seconds for a kernel are skipped, and the report says so.
 */
export interface SgemmResult {
  M: number;
  N: number;
  K: number;
  ms: number;
  gflops: number;
}

export interface KernelResult {
  name: BenchKernelName;
  seqLen: number;
  headDim: number;
  heads: number;
  causal: boolean;
  threads: number;
  fwdMs: number;
  bwdMs: number;
  gflops: number;
  ratioToSgemm: number | null;
}

export interface KernelsReport {
  machine: MachineInfo;
  flopModel: string;
  native: { loaded: boolean; blas: string | null; blasCore: string | null; reason: string | null };
  /** Threads of the native sgemm and native kernel; tfjs and the reference run on one. */
  nativeThreads: number | null;
  sgemm: SgemmResult | null;
  /** sgemm at the shapes of attention's own products (Q·Kᵀ and P·V) at the largest size ≤ 4096. */
  sgemmAttentionShapes: SgemmResult[];
  kernels: KernelResult[];
  skipped: Array<{ name: BenchKernelName; seqLen: number; reason: string }>;
  reps: number;
  warmup: number;
}

/** GFLOP/s assumed before a kernel has been timed once, to keep a first huge size from running. */
const PRIOR_GFLOPS: Record<BenchKernelName, number> = { native: 20, tfjs: 0.5, 'tfjs-native-matmul': 3, reference: 0.3 };

export async function runKernelsBench(cfg: KernelsConfig, logger: Logger): Promise<KernelsReport> {
  await ensureCpuBackend({ quiet: true });
  const status = nativeStatus();
  const addon = loadNativeAddon().addon;
  const nativeThreads = addon ? cfg.threads || addon.info().defaultThreads : null;
  const report: KernelsReport = {
    machine: machineInfo(),
    flopModel: FLOP_MODEL,
    native: { loaded: status.loaded, blas: status.blas, blasCore: status.blasCore, reason: status.reason },
    nativeThreads,
    sgemm: null,
    sgemmAttentionShapes: [],
    kernels: [],
    skipped: [],
    reps: cfg.reps,
    warmup: cfg.warmup,
  };

  if (addon) {
    const n = cfg.sgemmSize;
    report.sgemm = timeSgemm(n, n, n, cfg);
    logger.info(`sgemm ${n}³ on ${status.blas} (${nativeThreads} threads): ${report.sgemm.gflops.toFixed(1)} GFLOP/s`);
    const s = Math.max(...cfg.seqLens.filter((x) => x <= 4096), Math.min(...cfg.seqLens));
    const D = cfg.headDim;
    report.sgemmAttentionShapes = [timeSgemm(s, s, D, cfg), timeSgemm(s, D, s, cfg)];
  } else {
    logger.warn(`no sgemm limit and no native kernel: ${status.reason}`);
  }

  const lastTimed = new Map<BenchKernelName, { seqLen: number; ms: number }>();
  for (const name of cfg.kernels) {
    if (name !== 'reference' && name !== 'tfjs' && !addon) {
      for (const seqLen of cfg.seqLens) report.skipped.push({ name, seqLen, reason: `native addon not loaded: ${status.reason}` });
      continue;
    }
    for (const seqLen of cfg.seqLens) {
      const why = skipReason(name, seqLen, cfg, lastTimed.get(name));
      if (why) {
        report.skipped.push({ name, seqLen, reason: why });
        logger.info(`${name} at ${seqLen}: skipped (${why})`);
        continue;
      }
      const r = timeKernel(name, seqLen, cfg, addon ? createNativeKernel(addon, { threads: cfg.threads }) : null);
      const result: KernelResult = {
        name,
        seqLen,
        headDim: cfg.headDim,
        heads: cfg.heads,
        causal: cfg.causal,
        threads: name === 'native' || name === 'tfjs-native-matmul' ? nativeThreads ?? 1 : 1,
        fwdMs: r.fwdMs,
        bwdMs: r.bwdMs,
        gflops: gflops(trainFlops(selfAttention(seqLen, cfg.heads, cfg.headDim, cfg.causal)), r.fwdMs + r.bwdMs),
        ratioToSgemm: null,
      };
      result.ratioToSgemm = report.sgemm ? result.gflops / report.sgemm.gflops : null;
      report.kernels.push(result);
      lastTimed.set(name, { seqLen, ms: r.fwdMs + r.bwdMs });
      logger.info(`${name} at ${seqLen}: fwd ${r.fwdMs.toFixed(1)} ms, bwd ${r.bwdMs.toFixed(1)} ms, ${result.gflops.toFixed(2)} GFLOP/s`);
    }
  }
  if (report.sgemm) {
    // The limit is the best sgemm seen before and after the kernels: a shared machine's
    // background load then lowers the kernels' figures, never the limit they are held to.
    const again = timeSgemm(cfg.sgemmSize, cfg.sgemmSize, cfg.sgemmSize, cfg);
    if (again.gflops > report.sgemm.gflops) report.sgemm = again;
    for (const k of report.kernels) k.ratioToSgemm = k.gflops / report.sgemm.gflops;
    logger.info(`sgemm again after the kernels: ${again.gflops.toFixed(1)} GFLOP/s; limit ${report.sgemm.gflops.toFixed(1)} GFLOP/s`);
  }
  return report;
}

function skipReason(name: BenchKernelName, seqLen: number, cfg: KernelsConfig, last: { seqLen: number; ms: number } | undefined): string | null {
  if (name === 'reference' && seqLen > cfg.referenceMaxSeq) return `the plain reference is capped at --reference-max-seq ${cfg.referenceMaxSeq}`;
  const runs = cfg.warmup + cfg.reps;
  const flops = trainFlops(selfAttention(seqLen, cfg.heads, cfg.headDim, cfg.causal));
  const perRunMs = last ? last.ms * (seqLen / last.seqLen) ** 2 : flops / (PRIOR_GFLOPS[name] * 1e6);
  const estimateSec = (perRunMs * runs) / 1000;
  if (estimateSec <= cfg.maxSeconds) return null;
  const basis = last ? `from ${last.ms.toFixed(0)} ms at ${last.seqLen}` : `assuming ${PRIOR_GFLOPS[name]} GFLOP/s`;
  return `estimated ${estimateSec.toFixed(0)} s for ${runs} runs (${basis}) > --max-seconds ${cfg.maxSeconds}`;
}

/** The fastest of max(5, reps) runs after the warmup: the limit, not a typical run. */
function timeSgemm(M: number, N: number, K: number, cfg: KernelsConfig): SgemmResult {
  const rng = new SeededRandom(cfg.seed);
  const A = rng.normalArray(M * K);
  const B = rng.normalArray(K * N);
  const C = new Float32Array(M * N);
  const runs = Math.max(5, cfg.reps);
  let ms = Infinity;
  for (let i = 0; i < cfg.warmup + runs; i++) {
    const t0 = performance.now();
    sgemm({ M, N, K, A, B, C, threads: cfg.threads });
    if (i >= cfg.warmup) ms = Math.min(ms, performance.now() - t0);
  }
  return { M, N, K, ms, gflops: gflops(2 * M * N * K, ms) };
}

interface Timing {
  fwdMs: number;
  bwdMs: number;
}

/**
 * One kernel's forward + backward GFLOP/s (flops.ts) on one block of `seqLen` tokens, in this
 * process: the native kernel when the addon loads (as workers use it), else tfjs. The planner's
 * calibration (plan/calibrate.ts); median of `reps` after one warmup.
 */
export async function measureKernel(shape: { seqLen: number; heads: number; headDim: number; causal: boolean }, reps = 3): Promise<{ kernel: 'native' | 'tfjs'; threads: number; ms: number; gflops: number }> {
  await ensureCpuBackend({ quiet: true });
  const addon = loadNativeAddon().addon;
  const cfg = { ...shape, seed: 1, warmup: 1, reps };
  const r = timeKernel(addon ? 'native' : 'tfjs', shape.seqLen, cfg, addon ? createNativeKernel(addon, { threads: 0 }) : null);
  const ms = r.fwdMs + r.bwdMs;
  return { kernel: addon ? 'native' : 'tfjs', threads: addon ? addon.info().defaultThreads : 1, ms, gflops: gflops(trainFlops(selfAttention(shape.seqLen, shape.heads, shape.headDim, shape.causal)), ms) };
}

/** Median over reps of forward + backward, with the forward and backward of that median rep. */
function timeKernel(name: BenchKernelName, S: number, cfg: Pick<KernelsConfig, 'heads' | 'headDim' | 'causal' | 'seed' | 'warmup' | 'reps'>, native: AttentionKernel | null): Timing {
  const { heads: H, headDim: D, causal } = cfg;
  const rng = new SeededRandom(cfg.seed + S);
  const q = rng.normalArray(S * H * D);
  const k = rng.normalArray(S * H * D);
  const v = rng.normalArray(S * H * D);
  const dout = rng.normalArray(S * H * D);
  const pos = Int32Array.from({ length: S }, (_, i) => i);
  const scale = 1 / Math.sqrt(D);
  let once: () => Timing;
  let cleanup: () => void;
  if (name === 'reference') {
    const dims = { seqQ: S, seqK: S, heads: H, kvHeads: H, headDim: D, posQ: pos, posK: pos, causal, scale };
    once = () => {
      const t0 = performance.now();
      const f = referenceForward({ q, k, v, ...dims });
      const t1 = performance.now();
      referenceBackward({ q, k, v, dout, out: f.out, lse: f.lse, ...dims });
      return { fwdMs: t1 - t0, bwdMs: performance.now() - t1 };
    };
    cleanup = () => undefined;
  } else {
    const kernel = name === 'native' ? native! : tfjsKernel;
    // tf.matMul on tfjs's own kernel for `tfjs`, on the addon's gemm for `tfjs-native-matmul`.
    const wasInstalled = nativeKernelsInstalled();
    setNativeMatMul(name === 'tfjs-native-matmul' ? true : name === 'tfjs' ? false : wasInstalled);
    const t = { q: toHeadMajor(q, S, H, D), k: toHeadMajor(k, S, H, D), v: toHeadMajor(v, S, H, D), dout: toHeadMajor(dout, S, H, D) };
    once = () => {
      const t0 = performance.now();
      const f = kernel.forward({ q: t.q, k: t.k, v: t.v, posQ: pos, posK: pos, causal, scale });
      const t1 = performance.now();
      const g = kernel.backward({ q: t.q, k: t.k, v: t.v, posQ: pos, posK: pos, causal, scale, dout: t.dout, out: f.out, lse: f.lse });
      const t2 = performance.now();
      tf.dispose([f.out, f.lse, g.dq, g.dk, g.dv]);
      return { fwdMs: t1 - t0, bwdMs: t2 - t1 };
    };
    cleanup = () => {
      tf.dispose(Object.values(t));
      setNativeMatMul(wasInstalled);
    };
  }
  try {
    const runs: Timing[] = [];
    for (let i = 0; i < cfg.warmup + cfg.reps; i++) {
      const r = once();
      if (i >= cfg.warmup) runs.push(r);
    }
    runs.sort((a, b) => a.fwdMs + a.bwdMs - (b.fwdMs + b.bwdMs));
    return runs[(runs.length - 1) >> 1];
  } finally {
    cleanup();
  }
}

function setNativeMatMul(on: boolean): void {
  if (on && !nativeKernelsInstalled()) installNativeKernels();
  if (!on && nativeKernelsInstalled()) uninstallNativeKernels();
}
