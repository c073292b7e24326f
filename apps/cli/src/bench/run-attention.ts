import { cpus } from 'node:os';
import { RingtrainError, SeededRandom, isRingtrainError, type Logger } from '@ringtrain/core';
import { withLocalWorld, type Coordinator, type RankResult } from '@ringtrain/coordinator';
import { nativeStatus } from '@ringtrain/kernels';
import { makeLayout } from '@ringtrain/layout';
import { strategyLayout, type StrategySpec } from '@ringtrain/config';
import { shardAttentionInputs, type AttentionInputs, type AttentionShardTensors } from '../check/shard-inputs';
import { documentIds, documentLengths } from '../check/documents';
import { getStrategy, type StrategyName } from '@ringtrain/worker';
import type { AttentionBenchConfig } from './attention-config';
import { FLOP_MODEL, gflops, selfAttention, trainFlops } from './flops';
import { machineInfo, type MachineInfo } from './machine';
import { simulateStep, type RingLayoutName } from './sim-model';
import { writeLinkCalibration } from '../plan/calibration-file';
import { projectStrategies, type SimulationReport } from './simulate';
import { formatBytes, median } from './stats';

/**
 * `ringtrain bench attention`: P real worker processes (Coordinator + LocalLauncher, as `check`
 * does), each with cores/P BLAS threads. In one run it measures
 *   - the single-process baseline: the same kernel on the whole sequence in one worker (rank 0
 *     of the same world, the others idle), which also fits the kernel's GFLOP/s; and the same
 *     with every worker doing it at once (what one core delivers while all cores are busy);
 *   - every strategy: warmup + reps forward + backward, per rank wall, compute and network wait;
 *   - the data plane: the same volume between ranks 0 and 1 as ws + msgpack data frames through
 *     the real WsTransport and as a plain node:net stream (the kernel's limit: nothing allocated
 *     or copied per byte), both between the two worker processes, with each end's GC share.
 */
export interface RankTiming {
  rank: number;
  wallMs: number;
  /** wall − wait: everything but awaiting the network (kernel, merges, encoding). */
  computeMs: number;
  /** Awaiting the network after compute (exposed communication, incl. waiting on a slower peer). */
  waitMs: number;
  kernelMs: number;
  bytesSent: number;
}

export interface StrategyResult {
  name: StrategyName;
  /** Median over reps of the slowest rank's forward + backward. */
  wallMs: number;
  /** (single-process ms / P) / wallMs. */
  efficiency: number | null;
  /** The same against the all-busy baseline: what is left once per-core slowdown is taken out. */
  efficiencyAllBusy: number | null;
  /** Useful FLOPs (flops.ts) / time inside the kernel summed over ranks. */
  kernelGflops: number;
  speedupVsRing: number | null;
  /** Wait ÷ wall on the rank with the most compute (the critical path). */
  exposedCommFraction: number;
  /** Mean over ranks of wait ÷ wall (idle ranks of an unbalanced strategy wait too). */
  meanWaitFraction: number;
  bytesPerRank: number;
  ranks: RankTiming[];
  /** With --docs: the same strategy on the packed documents, measured right after. */
  withDocs?: { wallMs: number; speedup: number };
  /**
   * The step model (sim-model.ts) at this run's point, calibrated on this same run: the kernel
   * GFLOP/s alone and with every worker busy (see predict) and the measured ws+msgpack rate
   * (latency 0); null without a transport measurement. Error: (predicted − measured) / measured.
   */
  predictedMs: number | null;
  predictionError: number | null;
}

export interface TransportResult {
  method: string;
  volumeBytes: number;
  chunkBytes: number;
  /** Mean over the two directions (ranks 0→1 and 1→0) of each direction's median. */
  wsMsgpackBytesPerSec: number;
  rawTcpBytesPerSec: number;
  /** Raw TCP whose reads land in a message-sized buffer (reused), as a receiver that keeps messages must. */
  rawTcpIntoMessagesBytesPerSec: number;
  directions: TransportDirection[];
}

export interface TransportDirection {
  from: number;
  to: number;
  wsMsgpackBytesPerSec: number;
  rawTcpBytesPerSec: number;
  rawTcpIntoMessagesBytesPerSec: number;
  /** Share of the timed rounds' wall time each end's JS thread spent in GC pauses (null: not reported). */
  gcShare: { ws: GcShares; tcp: GcShares };
}

export interface GcShares {
  sender: number | null;
  receiver: number | null;
}

export interface AttentionReport {
  machine: MachineInfo;
  flopModel: string;
  config: {
    workers: number;
    seqLen: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    causal: boolean;
    reps: number;
    warmup: number;
    threadsPerWorker: number;
  };
  kernel: { name: 'native' | 'tfjs'; matmul: string; note: string | null };
  singleProcess: {
    wallMs: number;
    kernelMs: number;
    kernelGflops: number;
    /** Every worker running the whole sequence alone at once: median wall, kernel GFLOP/s. */
    allBusyWallMs: number;
    allBusyKernelGflops: number;
  } | null;
  strategies: StrategyResult[];
  skipped: Array<{ name: StrategyName; reason: string }>;
  transport: TransportResult | null;
  transportNote: string | null;
  simulation: SimulationReport | null;
  /** With --docs: the documents, and the attention work the mask leaves (visible pairs ÷ causal pairs). */
  documents?: { count: number; lens: number[]; workRatio: number };
}

export async function runAttentionBench(cfg: AttentionBenchConfig, logger: Logger, workerCommand: readonly string[]): Promise<AttentionReport> {
  const { problem, workers: P } = cfg;
  const threadsPerWorker = Math.max(1, Math.floor(cpus().length / P));
  const report: AttentionReport = {
    machine: machineInfo(),
    flopModel: FLOP_MODEL,
    config: {
      workers: P, seqLen: problem.seqLen, heads: problem.heads, kvHeads: problem.kvHeads, headDim: problem.headDim,
      causal: problem.causal, reps: cfg.reps, warmup: cfg.warmup, threadsPerWorker,
    },
    kernel: resolveKernel(cfg),
    singleProcess: null,
    strategies: [],
    skipped: [],
    transport: null,
    transportNote: null,
    simulation: null,
  };
  if (cfg.simulateOnly) {
    report.simulation = projectStrategies(problem, cfg.simulate!, cfg.simulate!.flopsPerSec!, 'given with --gflops');
    return report;
  }

  const runnable: StrategyName[] = [];
  for (const name of cfg.strategies) {
    if (name === 'rsa' && problem.seqLen > cfg.rsaMaxSeq) {
      // RSA keeps S/P × S probabilities per rank and computes them with generic tfjs CPU ops in
      // long synchronous steps: past this, memory grows as S² and one step can outlast the
      // coordinator's 30 s heartbeat, which ends the whole run.
      const scoreBytes = problem.heads * Math.ceil(problem.seqLen / P) * problem.seqLen * 4;
      const reason = `capped at --rsa-max-seq ${cfg.rsaMaxSeq}: it would hold ${formatBytes(scoreBytes)} of S/P × S probabilities per rank, built by long synchronous tfjs CPU ops`;
      report.skipped.push({ name, reason });
      logger.warn(`${name}: skipped (${reason})`);
      continue;
    }
    try {
      getStrategy(name, specOf(name, cfg)).checkProblem(problem, P);
      strategyLayout(specOf(name, cfg), problem.seqLen, P);
      runnable.push(name);
    } catch (err) {
      if (!isRingtrainError(err)) throw err;
      report.skipped.push({ name, reason: err.message });
      logger.warn(`${name}: skipped (${err.message})`);
    }
  }

  logger.info(`${P} worker processes, ${threadsPerWorker} BLAS thread(s) each`);
  await withLocalWorld({ workers: P, logger, workerCommand, jobTimeoutMs: cfg.timeoutMs, threadsPerWorker }, async ({ coordinator }) => {

    if (P < 2) report.transportNote = 'one worker: no link to measure';
    else if (cfg.transportBytes === 0) report.transportNote = 'skipped (--transport-mib 0)';
    else report.transport = await benchTransport(coordinator, cfg, logger);

    const inputs = makeInputs(cfg);
    const docIds = packedDocuments(cfg, report);
    const params = {
      seqLen: problem.seqLen, heads: problem.heads, kvHeads: problem.kvHeads, headDim: problem.headDim, causal: problem.causal,
      scale: problem.scale, kernel: report.kernel.name, reps: cfg.reps, warmup: cfg.warmup,
    };
    const job = (strategy: StrategyName, run: 'alone' | 'all-alone' | 'distributed', tensors: (r: number) => Partial<AttentionShardTensors>) =>
      coordinator.runJob('bench-attention', Array.from({ length: P }, (_, r) => ({ params: { ...params, strategy, ulyssesDegree: specOf(strategy, cfg).ulyssesDegree, run }, tensors: tensors(r) })));
    logger.info(`single process: ${report.kernel.name} kernel on all ${problem.seqLen} tokens in one worker`);
    const full = fullInputs(inputs, cfg);
    const alone = await job('ring', 'alone', (r) => (r === 0 ? full : {}));
    const allAlone = P > 1 ? await job('ring', 'all-alone', () => full) : alone;
    const flops = trainFlops(selfAttention(problem.seqLen, problem.heads, problem.headDim, problem.causal));
    const soloRows = timings(alone[0]);
    const busyRows = allAlone.map(timings);
    const soloWall = median(soloRows.map((t) => t.wallMs));
    const soloKernel = median(soloRows.map((t) => t.kernelMs));
    const busyWall = median(busyRows.flat().map((t) => t.wallMs));
    const busyKernel = median(busyRows.flat().map((t) => t.kernelMs));
    report.singleProcess = {
      wallMs: soloWall,
      kernelMs: soloKernel,
      kernelGflops: gflops(flops, soloKernel),
      allBusyWallMs: busyWall,
      allBusyKernelGflops: gflops(flops, busyKernel),
    };
    report.kernel.matmul = String(alone[0].meta.matmul ?? report.kernel.matmul);
    logger.info(`single process: ${soloWall.toFixed(1)} ms (kernel ${report.singleProcess.kernelGflops.toFixed(1)} GFLOP/s); with all ${P} workers busy: ${busyWall.toFixed(1)} ms`);

    for (const [i, name] of runnable.entries()) {
      const layout = strategyLayout(specOf(name, cfg), problem.seqLen, P);
      let results: Array<RankResult<'bench-attention'>>;
      try {
        results = await job(name, 'distributed', (r) => shardAttentionInputs(inputs, cfg.problem, layout, r));
      } catch (err) {
        // A failed job may have taken the world with it: report what was measured so far.
        if (!isRingtrainError(err)) throw err;
        report.skipped.push({ name, reason: `failed: [${err.code}] ${err.message}` });
        for (const rest of runnable.slice(i + 1)) report.skipped.push({ name: rest, reason: `not run: ${name} failed first` });
        logger.error(`${name} failed: ${err.message}`);
        process.exitCode = 1;
        break;
      }
      const s = summarize(name, results, cfg.reps, { alone: soloWall / P, allBusy: busyWall / P, flops });
      if (docIds) {
        const packed = await job(name, 'distributed', (r) => shardAttentionInputs(inputs, cfg.problem, layout, r, docIds));
        const wallMs = summarize(name, packed, cfg.reps, { alone: soloWall / P, allBusy: busyWall / P, flops }).wallMs;
        s.withDocs = { wallMs, speedup: s.wallMs / wallMs };
        logger.info(`${name} on ${cfg.docs} documents: ${wallMs.toFixed(1)} ms (${s.withDocs.speedup.toFixed(2)}x the unmasked run)`);
      }
      report.strategies.push(s);
      logger.info(`${name}: ${s.wallMs.toFixed(1)} ms, efficiency ${s.efficiency?.toFixed(2)}, exposed comm ${(s.exposedCommFraction * 100).toFixed(1)}%`);
    }
    const ring = report.strategies.find((s) => s.name === 'ring');
    for (const s of report.strategies) s.speedupVsRing = ring ? ring.wallMs / s.wallMs : null;
  });
  predict(report, cfg);
  if (report.transport) {
    const failed = writeLinkCalibration({ bytesPerSec: report.transport.wsMsgpackBytesPerSec, measuredAt: new Date().toISOString(), by: 'ringtrain bench attention' });
    if (failed) logger.warn(`could not record the measured link for \`ringtrain plan\`: ${failed}`);
  }
  if (cfg.simulate) {
    const fit = report.singleProcess!.kernelGflops * 1e9;
    report.simulation = projectStrategies(problem, cfg.simulate, fit, `fit: the ${report.kernel.name} kernel's single-process run above, ${threadsPerWorker} thread(s)`);
    report.simulation.checks = report.strategies.filter((s) => s.predictedMs !== null).map((s) => ({ strategy: s.name, modelMs: s.predictedMs, measuredMs: s.wallMs }));
  }
  return report;
}

/** hybrid's spec from the bench's options; the others are their name alone. */
function specOf(name: StrategyName, cfg: AttentionBenchConfig): StrategySpec {
  return name === 'hybrid' ? { strategy: name, ...cfg.hybrid } : { strategy: name };
}

/**
 * Each strategy's predicted step at this run's point, beside its measured wall (see
 * StrategyResult). The kernel is both of this run's figures (sim-model's KernelRate): workers
 * sharing this machine's cores each compute at the all-busy rate when all compute, and faster
 * when the others wait (a causal ring's later steps): 2-core VM, S = 4096, 2 heads, one run:
 * 7.2 against 11.6 GFLOP/s (benchmarks/NOTES.md, 2026-12-05 planner). With one worker the two
 * are the same run.
 */
function predict(report: AttentionReport, cfg: AttentionBenchConfig): void {
  const sp = report.singleProcess;
  if (!report.transport || !sp) return;
  const link = { name: 'this run\'s ws+msgpack', bytesPerSec: report.transport.wsMsgpackBytesPerSec, latencySec: 0 };
  const ringLayout: RingLayoutName = cfg.hybrid.ringLayout === 'contiguous' ? 'ring' : (cfg.hybrid.ringLayout as RingLayoutName);
  for (const s of report.strategies) {
    const kernel = { alone: sp.kernelGflops * 1e9, allBusy: sp.allBusyKernelGflops * 1e9 };
    const e = simulateStep(s.name, { ...cfg.problem, workers: cfg.workers }, link, kernel, { ulyssesDegree: cfg.hybrid.ulyssesDegree, ringLayout });
    s.predictedMs = e.feasible ? e.stepSec * 1000 : null;
    s.predictionError = s.predictedMs === null || s.wallMs <= 0 ? null : (s.predictedMs - s.wallMs) / s.wallMs;
  }
}

function resolveKernel(cfg: AttentionBenchConfig): AttentionReport['kernel'] {
  if (cfg.simulateOnly) return { name: cfg.kernel === 'auto' ? 'native' : cfg.kernel, matmul: '-', note: 'not run (--gflops)' };
  const status = nativeStatus();
  if (cfg.kernel === 'tfjs') return { name: 'tfjs', matmul: 'tfjs', note: null };
  if (status.loaded) return { name: 'native', matmul: 'native', note: null };
  if (cfg.kernel === 'native') {
    throw new RingtrainError('NATIVE_UNAVAILABLE', `--kernel native: the native addon is not loaded: ${status.reason}`, {
      hint: 'build it with `npm run build` (needs a C++ compiler), or pass --kernel tfjs',
    });
  }
  return { name: 'tfjs', matmul: 'tfjs', note: `native addon not loaded (${status.reason}); using the tfjs kernel` };
}

function makeInputs(cfg: AttentionBenchConfig): AttentionInputs {
  const { seqLen: S, heads: H, kvHeads: Hkv, headDim: D } = cfg.problem;
  const rng = new SeededRandom(cfg.seed);
  return { q: rng.normalArray(S * H * D), k: rng.normalArray(S * Hkv * D), v: rng.normalArray(S * Hkv * D), dout: rng.normalArray(S * H * D) };
}

/** The whole sequence as one shard (the single-process baseline). */
function fullInputs(x: AttentionInputs, cfg: AttentionBenchConfig): AttentionShardTensors {
  return shardAttentionInputs(x, cfg.problem, makeLayout('contiguous', cfg.problem.seqLen, 1), 0);
}

interface RepTiming {
  wallMs: number;
  kernelMs: number;
  waitMs: number;
}

/** A rank's `timings` [reps, 3] (wall, kernel, wait ms), checked before use. */
function timings(result: RankResult<'bench-attention'>): RepTiming[] {
  const t = result.tensors.timings;
  if (!t || t.dtype !== 'float32' || t.shape.length !== 2 || t.shape[1] !== 3) {
    throw new RingtrainError('BAD_RESULT', `rank ${result.rank} returned no valid bench timings`, { details: { rank: result.rank } });
  }
  const d = t.data;
  return Array.from({ length: t.shape[0] }, (_, i) => ({ wallMs: d[i * 3], kernelMs: d[i * 3 + 1], waitMs: d[i * 3 + 2] }));
}

function summarize(name: StrategyName, results: Array<RankResult<'bench-attention'>>, reps: number, ref: { alone: number; allBusy: number; flops: number }): StrategyResult {
  const perRank = results.map(timings);
  const stepWalls = Array.from({ length: reps }, (_, i) => Math.max(...perRank.map((rows) => rows[i].wallMs)));
  const ranks: RankTiming[] = results.map((res, r) => {
    const rows = perRank[r];
    return {
      rank: res.rank,
      wallMs: median(rows.map((t) => t.wallMs)),
      computeMs: median(rows.map((t) => t.wallMs - t.waitMs)),
      waitMs: median(rows.map((t) => t.waitMs)),
      kernelMs: median(rows.map((t) => t.kernelMs)),
      bytesSent: res.meta.bytesSentPerRep ?? 0,
    };
  });
  const busiest = ranks.reduce((a, b) => (b.computeMs > a.computeMs ? b : a));
  const wallMs = median(stepWalls);
  return {
    name,
    wallMs,
    efficiency: wallMs > 0 ? ref.alone / wallMs : null,
    efficiencyAllBusy: wallMs > 0 ? ref.allBusy / wallMs : null,
    kernelGflops: gflops(ref.flops, ranks.reduce((a, r) => a + r.kernelMs, 0)),
    speedupVsRing: null,
    exposedCommFraction: busiest.wallMs > 0 ? busiest.waitMs / busiest.wallMs : 0,
    meanWaitFraction: ranks.reduce((a, r) => a + (r.wallMs > 0 ? r.waitMs / r.wallMs : 0), 0) / ranks.length,
    bytesPerRank: Math.max(...ranks.map((r) => r.bytesSent)),
    ranks,
    predictedMs: null,
    predictionError: null,
  };
}

async function benchTransport(coordinator: Coordinator, cfg: AttentionBenchConfig, logger: Logger): Promise<TransportResult> {
  const chunks = cfg.transportBytes / cfg.chunkBytes;
  const directions: TransportResult['directions'] = [];
  for (const [from, to] of [[0, 1], [1, 0]]) {
    const rate = async (mode: 'ws' | 'tcp' | 'tcp-messages') => {
      const params = { mode, from, to, chunkBytes: cfg.chunkBytes, chunks, reps: cfg.reps, warmup: cfg.warmup };
      const results = await coordinator.runOnAll('bench-transport', { params, tensors: {} });
      const ms = results.find((r) => r.rank === from)?.tensors.ms;
      if (!ms || ms.dtype !== 'float32' || ms.data.length === 0) throw new RingtrainError('BAD_RESULT', `rank ${from} returned no transport timings`);
      const gcOf = (rank: number) => results.find((r) => r.rank === rank)?.meta.gcShare ?? null;
      return { bytesPerSec: cfg.transportBytes / (median([...ms.data]) / 1000), gc: { sender: gcOf(from), receiver: gcOf(to) } };
    };
    const tcp = await rate('tcp');
    const tcpMessages = await rate('tcp-messages');
    const ws = await rate('ws');
    directions.push({ from, to, wsMsgpackBytesPerSec: ws.bytesPerSec, rawTcpBytesPerSec: tcp.bytesPerSec, rawTcpIntoMessagesBytesPerSec: tcpMessages.bytesPerSec, gcShare: { ws: ws.gc, tcp: tcp.gc } });
    const pct = (x: number | null) => (x === null ? '?' : `${(x * 100).toFixed(0)}%`);
    logger.info(
      `transport ${from}->${to}: ws+msgpack ${(ws.bytesPerSec / 1e9).toFixed(2)} GB/s (GC ${pct(ws.gc.sender)} sender, ${pct(ws.gc.receiver)} receiver), ` +
        `raw TCP ${(tcp.bytesPerSec / 1e9).toFixed(2)} GB/s (GC ${pct(tcp.gc.sender)}, ${pct(tcp.gc.receiver)}), into messages ${(tcpMessages.bytesPerSec / 1e9).toFixed(2)} GB/s`,
    );
  }
  return {
    method: `between worker processes 0 and 1 on 127.0.0.1: ${chunks} × ${cfg.chunkBytes / 2 ** 20} MiB as ws+msgpack data frames through WsTransport, and as writes on a plain node:net socket read into one reused 64 KiB buffer (raw TCP) or into one reused ${cfg.chunkBytes / 2 ** 20} MiB message buffer (raw TCP into messages: what a receiver that keeps each message must at least do); sender times first byte to the receiver's ack; median of ${cfg.reps} per direction, mean of the two directions`,
    volumeBytes: cfg.transportBytes,
    chunkBytes: cfg.chunkBytes,
    wsMsgpackBytesPerSec: mean(directions.map((d) => d.wsMsgpackBytesPerSec)),
    rawTcpBytesPerSec: mean(directions.map((d) => d.rawTcpBytesPerSec)),
    rawTcpIntoMessagesBytesPerSec: mean(directions.map((d) => d.rawTcpIntoMessagesBytesPerSec)),
    directions,
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** --docs: document ids of one packed sequence, and the share of the causal work the mask leaves. */
function packedDocuments(cfg: AttentionBenchConfig, report: AttentionReport): Int32Array | null {
  if (cfg.docs === null) return null;
  const S = cfg.problem.seqLen;
  const lens = documentLengths({ count: cfg.docs, lens: null }, S, cfg.seed + 1);
  const visible = lens.reduce((a, n) => a + (cfg.problem.causal ? (n * (n + 1)) / 2 : n * n), 0);
  report.documents = { count: cfg.docs, lens, workRatio: visible / (cfg.problem.causal ? (S * (S + 1)) / 2 : S * S) };
  return documentIds(lens).ids;
}
