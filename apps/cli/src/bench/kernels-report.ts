import type { KernelsReport, SgemmResult } from './run-kernels';
import { describeMachine } from './machine';
import { fmt, formatTable, sig } from './stats';

/** `--json`: {"sgemmGflops", "kernels": [{"name", "seqLen", "headDim", "gflops", "ratioToSgemm"}], …}. */
export function kernelsJson(r: KernelsReport): string {
  return JSON.stringify({
    sgemmGflops: sig(r.sgemm?.gflops),
    sgemm: r.sgemm ? { ...sgemmJson(r.sgemm), threads: r.nativeThreads, blas: r.native.blas, blasCore: r.native.blasCore } : null,
    sgemmAttentionShapes: r.sgemmAttentionShapes.map(sgemmJson),
    flopModel: r.flopModel,
    native: r.native,
    machine: r.machine,
    reps: r.reps,
    warmup: r.warmup,
    kernels: r.kernels.map((k) => ({
      name: k.name,
      seqLen: k.seqLen,
      headDim: k.headDim,
      heads: k.heads,
      causal: k.causal,
      threads: k.threads,
      fwdMs: sig(k.fwdMs),
      bwdMs: sig(k.bwdMs),
      gflops: sig(k.gflops),
      ratioToSgemm: sig(k.ratioToSgemm, 3),
    })),
    skipped: r.skipped,
  });
}

function sgemmJson(s: SgemmResult) {
  return { M: s.M, N: s.N, K: s.K, ms: sig(s.ms), gflops: sig(s.gflops) };
}

export function kernelsTable(r: KernelsReport): string {
  const lines = [`machine: ${describeMachine(r.machine)}`];
  if (r.sgemm) {
    const s = r.sgemm;
    lines.push(`limit: best sgemm ${s.M}x${s.N}x${s.K} (before and after the kernels) on ${r.native.blas}${r.native.blasCore ? ` (${r.native.blasCore})` : ''}, ${r.nativeThreads} threads: ${s.gflops.toFixed(1)} GFLOP/s`);
    for (const a of r.sgemmAttentionShapes) lines.push(`       sgemm ${a.M}x${a.N}x${a.K} (an attention product's shape): ${a.gflops.toFixed(1)} GFLOP/s`);
  } else {
    lines.push(`limit: unknown, the native addon is not loaded (${r.native.reason})`);
  }
  lines.push(r.flopModel);
  lines.push(`median of ${r.reps} run(s) after ${r.warmup} warmup; tfjs and the reference use one thread, native ${r.nativeThreads ?? '-'}`);
  const rows = [['kernel', 'seq', 'heads', 'dim', 'causal', 'fwd ms', 'bwd ms', 'GFLOP/s', 'of sgemm']];
  for (const k of r.kernels) {
    rows.push([
      k.name, String(k.seqLen), String(k.heads), String(k.headDim), k.causal ? 'yes' : 'no',
      fmt(k.fwdMs), fmt(k.bwdMs), fmt(k.gflops, 2), k.ratioToSgemm === null ? '-' : `${(k.ratioToSgemm * 100).toFixed(1)}%`,
    ]);
  }
  lines.push(formatTable(rows, [false, true, true, true, false, true, true, true, true]));
  for (const s of r.skipped) lines.push(`skipped ${s.name} at ${s.seqLen}: ${s.reason}`);
  return lines.join('\n');
}
