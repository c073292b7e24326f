import * as tf from '@tensorflow/tfjs';
import { RingtrainError, SeededRandom, type Logger } from '@ringtrain/core';
import { webgpuKernel } from '@ringtrain/kernels';
import { describeAdapter, initWebgpuBackend, type AdapterSummary } from '@ringtrain/webgpu';
import { gflops, selfAttention, trainFlops } from './flops';
import { machineInfo, type MachineInfo } from './machine';

/**
 * `ringtrain bench gpu`: in one process on the WebGPU backend, a square matmul's GFLOP/s (what
 * tfjs-webgpu reaches on this GPU), then the WGSL flash attention's forward + backward GFLOP/s
 * at each size, as ratios to that matmul and to the GPU's fp32 peak when given. Each timing ends
 * with a one-value read, which waits for the queue; the median of the repetitions is reported.
 */
export interface GpuBenchConfig {
  seqLens: number[];
  heads: number;
  kvHeads: number;
  headDim: number;
  causal: boolean;
  matmulSize: number;
  reps: number;
  /** The GPU's fp32 peak in TFLOP/s (e.g. 67 for an H100/H200 SXM), or null. */
  peakTflops: number | null;
}

export interface GpuBenchReport {
  machine: MachineInfo;
  adapter: AdapterSummary;
  matmul: { size: number; ms: number; gflops: number };
  attention: Array<{ seqLen: number; fwdMs: number; bwdMs: number; gflops: number; ratioToMatmul: number; ratioToPeak: number | null }>;
  peakTflops: number | null;
}

export async function runGpuBench(cfg: GpuBenchConfig, logger: Logger): Promise<GpuBenchReport> {
  const init = await initWebgpuBackend({ allowSoftware: true });
  if (!init.ok) throw new RingtrainError('BACKEND_UNAVAILABLE', `webgpu cannot run here: ${init.reason}`, { hint: 'see README "GPU machines"' });
  logger.info(`webgpu on ${describeAdapter(init.adapter)}`);
  const rng = new SeededRandom(1);
  const randn = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

  const n = cfg.matmulSize;
  const [a, b] = [randn([n, n]), randn([n, n])];
  const mmMs = await timeMedian(cfg.reps, () => [tf.matMul(a, b)]);
  tf.dispose([a, b]);
  const matmul = { size: n, ms: mmMs, gflops: gflops(2 * n ** 3, mmMs) };
  logger.info(`matmul ${n}³: ${matmul.gflops.toFixed(1)} GFLOP/s`);

  const attention: GpuBenchReport['attention'] = [];
  for (const S of cfg.seqLens) {
    const { heads: H, kvHeads: Hkv, headDim: D } = cfg;
    const pos = Int32Array.from({ length: S }, (_, i) => i);
    const q = randn([H, S, D]) as tf.Tensor3D;
    const k = randn([Hkv, S, D]) as tf.Tensor3D;
    const v = randn([Hkv, S, D]) as tf.Tensor3D;
    const dout = randn([H, S, D]) as tf.Tensor3D;
    const inp = { q, k, v, posQ: pos, posK: pos, causal: cfg.causal, scale: 1 / Math.sqrt(D) };
    const fwd = webgpuKernel.forward(inp);
    const fwdMs = await timeMedian(cfg.reps, () => {
      const f = webgpuKernel.forward(inp);
      return [f.out, f.lse];
    });
    const bwdMs = await timeMedian(cfg.reps, () => {
      const g = webgpuKernel.backward({ ...inp, dout, out: fwd.out, lse: fwd.lse });
      return [g.dq, g.dk, g.dv];
    });
    tf.dispose([q, k, v, dout, fwd.out, fwd.lse]);
    const rate = gflops(trainFlops(selfAttention(S, H, D, cfg.causal)), fwdMs + bwdMs);
    attention.push({ seqLen: S, fwdMs, bwdMs, gflops: rate, ratioToMatmul: rate / matmul.gflops, ratioToPeak: cfg.peakTflops ? rate / (cfg.peakTflops * 1e3) : null });
    logger.info(`attention S=${S}: fwd ${fwdMs.toFixed(1)} ms, bwd ${bwdMs.toFixed(1)} ms, ${rate.toFixed(1)} GFLOP/s`);
  }
  return { machine: machineInfo(), adapter: init.adapter, matmul, attention, peakTflops: cfg.peakTflops };
}

/** Median wall time of `run` (one warm-up first), each ending when the queue has drained. */
async function timeMedian(reps: number, run: () => tf.Tensor[]): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const out = run();
    await drain(out);
    if (r > 0) times.push(performance.now() - t0);
    tf.dispose(out);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

/** Reads one value of the last tensor: the queue runs in order, so everything before it is done. */
async function drain(out: tf.Tensor[]): Promise<void> {
  const last = out[out.length - 1];
  const one = tf.slice(tf.reshape(last, [-1]), 0, 1);
  await one.data();
  one.dispose();
}

export function gpuBenchTable(r: GpuBenchReport): string {
  const lines = [
    `adapter: ${describeAdapter(r.adapter)}`,
    `matmul ${r.matmul.size}³: ${r.matmul.ms.toFixed(2)} ms, ${r.matmul.gflops.toFixed(1)} GFLOP/s`,
    'seq-len   fwd ms    bwd ms   GFLOP/s  ×matmul  ×peak',
  ];
  for (const a of r.attention) {
    lines.push(`${String(a.seqLen).padStart(7)} ${a.fwdMs.toFixed(1).padStart(8)} ${a.bwdMs.toFixed(1).padStart(9)} ${a.gflops.toFixed(1).padStart(9)} ${a.ratioToMatmul.toFixed(2).padStart(8)} ${a.ratioToPeak === null ? '    -' : a.ratioToPeak.toFixed(3).padStart(6)}`);
  }
  return lines.join('\n');
}
