import { describeMachine } from './machine';
import type { AttentionReport, GcShares } from './run-attention';
import type { SimulationReport } from './simulate';
import { fmt, formatBytes, formatRate, formatTable, formatTokens, sig } from './stats';

/**
 * `--json`: {"strategies": [{"name", "wallMs", "efficiency", "speedupVsRing",
 * "exposedCommFraction", "bytesPerRank", …}], "transport": {"wsMsgpackBytesPerSec",
 * "rawTcpBytesPerSec", …}, …}; "simulation" with --simulate.
 */
export function attentionJson(r: AttentionReport): string {
  const t = r.transport;
  return JSON.stringify({
    strategies: r.strategies.map((s) => ({
      name: s.name,
      wallMs: sig(s.wallMs),
      efficiency: sig(s.efficiency, 3),
      efficiencyAllBusy: sig(s.efficiencyAllBusy, 3),
      kernelGflops: sig(s.kernelGflops),
      speedupVsRing: sig(s.speedupVsRing, 3),
      exposedCommFraction: sig(s.exposedCommFraction, 3),
      meanWaitFraction: sig(s.meanWaitFraction, 3),
      bytesPerRank: s.bytesPerRank,
      predictedMs: sig(s.predictedMs),
      predictionError: sig(s.predictionError, 3),
      ranks: s.ranks.map((k) => ({ rank: k.rank, wallMs: sig(k.wallMs), computeMs: sig(k.computeMs), waitMs: sig(k.waitMs), kernelMs: sig(k.kernelMs), bytesSent: k.bytesSent })),
      ...(s.withDocs ? { withDocs: { wallMs: sig(s.withDocs.wallMs), speedup: sig(s.withDocs.speedup, 3) } } : {}),
    })),
    ...(r.documents ? { documents: { ...r.documents, workRatio: sig(r.documents.workRatio, 3) } } : {}),
    transport: {
      wsMsgpackBytesPerSec: sig(t?.wsMsgpackBytesPerSec),
      rawTcpBytesPerSec: sig(t?.rawTcpBytesPerSec),
      rawTcpIntoMessagesBytesPerSec: sig(t?.rawTcpIntoMessagesBytesPerSec),
      ratio: t ? sig(t.wsMsgpackBytesPerSec / t.rawTcpBytesPerSec, 3) : null,
      ratioIntoMessages: t ? sig(t.wsMsgpackBytesPerSec / t.rawTcpIntoMessagesBytesPerSec, 3) : null,
      method: t?.method ?? null,
      volumeBytes: t?.volumeBytes ?? null,
      chunkBytes: t?.chunkBytes ?? null,
      directions:
        t?.directions.map((d) => ({
          ...d,
          wsMsgpackBytesPerSec: sig(d.wsMsgpackBytesPerSec),
          rawTcpBytesPerSec: sig(d.rawTcpBytesPerSec),
          rawTcpIntoMessagesBytesPerSec: sig(d.rawTcpIntoMessagesBytesPerSec),
          gcShare: { ws: gcJson(d.gcShare.ws), tcp: gcJson(d.gcShare.tcp) },
        })) ?? [],
      note: r.transportNote,
    },
    singleProcess: r.singleProcess && {
      wallMs: sig(r.singleProcess.wallMs),
      kernelMs: sig(r.singleProcess.kernelMs),
      kernelGflops: sig(r.singleProcess.kernelGflops),
      allBusyWallMs: sig(r.singleProcess.allBusyWallMs),
      allBusyKernelGflops: sig(r.singleProcess.allBusyKernelGflops),
    },
    skipped: r.skipped,
    kernel: r.kernel,
    config: r.config,
    machine: r.machine,
    flopModel: r.flopModel,
    simulation: r.simulation && simulationJson(r.simulation),
  });
}

function gcJson(g: GcShares) {
  return { sender: sig(g.sender, 3), receiver: sig(g.receiver, 3) };
}

function simulationJson(s: SimulationReport) {
  return {
    ...s,
    flopsPerSec: sig(s.flopsPerSec),
    links: s.links.map((l) => ({ name: l.name, bytesPerSec: l.bytesPerSec, latencySec: l.latencySec })),
    rows: s.rows.map((row) => ({
      ...row,
      stepMs: sig(row.stepMs),
      efficiency: sig(row.efficiency, 3),
      exposedCommFraction: sig(row.exposedCommFraction, 3),
    })),
    hiddenFrom: s.hiddenFrom.map((h) => ({ ...h, tokensPerRank: h.tokensPerRank === null ? null : Math.ceil(h.tokensPerRank) })),
    checks: s.checks.map((c) => ({ ...c, modelMs: sig(c.modelMs), measuredMs: sig(c.measuredMs) })),
  };
}

export function attentionTable(r: AttentionReport): string {
  const c = r.config;
  const lines = [`machine: ${describeMachine(r.machine)}`];
  if (r.singleProcess) {
    lines.push(`problem: seq ${c.seqLen}, heads ${c.heads}/${c.kvHeads}, head dim ${c.headDim}, ${c.causal ? 'causal' : 'not causal'}`);
    lines.push(`${c.workers} worker process(es) × ${c.threadsPerWorker} BLAS thread(s); kernel ${r.kernel.name}, tf.matMul on ${r.kernel.matmul}; median of ${c.reps} rep(s) after ${c.warmup} warmup`);
    if (r.kernel.note) lines.push(`note: ${r.kernel.note}`);
    const sp = r.singleProcess;
    lines.push(r.flopModel);
    lines.push(`single process (one worker, whole sequence, the others idle): ${fmt(sp.wallMs)} ms, kernel ${fmt(sp.kernelGflops, 1)} GFLOP/s`);
    if (c.workers > 1) lines.push(`the same on all ${c.workers} workers at once (every core busy): ${fmt(sp.allBusyWallMs)} ms, kernel ${fmt(sp.allBusyKernelGflops, 1)} GFLOP/s`);
    const rows = [['strategy', 'wall ms', 'predicted', 'error', 'efficiency', 'all-busy eff', 'vs ring', 'exposed comm', 'kernel GFLOP/s', 'sent/rank', 'per rank: compute / wait / in-kernel ms']];
    for (const s of r.strategies) {
      rows.push([
        s.name, fmt(s.wallMs), fmt(s.predictedMs), s.predictionError === null ? '-' : `${s.predictionError >= 0 ? '+' : ''}${(s.predictionError * 100).toFixed(0)}%`, fmtRatio(s.efficiency), fmtRatio(s.efficiencyAllBusy), s.speedupVsRing === null ? '-' : `${s.speedupVsRing.toFixed(2)}x`,
        `${(s.exposedCommFraction * 100).toFixed(1)}%`, s.kernelGflops > 0 && Number.isFinite(s.kernelGflops) ? fmt(s.kernelGflops, 1) : '-', formatBytes(s.bytesPerRank),
        s.ranks.map((k) => `r${k.rank} ${fmt(k.computeMs, 0)}/${fmt(k.waitMs, 0)}/${fmt(k.kernelMs, 0)}`).join('  '),
      ]);
    }
    lines.push(formatTable(rows, [false, true, true, true, true, true, true, true, true, true, false]));
    lines.push('predicted = the step model (sim-model.ts, as `plan` and --simulate use it) on this run\'s kernel GFLOP/s (alone, and all busy where every worker computes) and ws+msgpack rate; error = (predicted − wall) / wall;');
    lines.push('efficiency = (single-process ms / P) / wall ms; all-busy eff: the same against the every-core-busy run;');
    lines.push('exposed comm = network wait / wall on the rank with the most compute; kernel GFLOP/s = useful FLOPs / in-kernel ms summed over ranks;');
    lines.push('compute = wall − wait (kernel, merges, copies, encoding); in-kernel = inside the attention kernel (0 for rsa, which uses tfjs ops)');
    if (r.documents) {
      const d = r.documents;
      lines.push(`documents: ${d.count} packed (${d.lens.join(', ')}); the mask leaves ${(d.workRatio * 100).toFixed(1)}% of the attention work (ideal speedup ${(1 / d.workRatio).toFixed(2)}x)`);
      for (const s of r.strategies) if (s.withDocs) lines.push(`  ${s.name}: ${fmt(s.wallMs)} ms unmasked, ${fmt(s.withDocs.wallMs)} ms on the documents: ${s.withDocs.speedup.toFixed(2)}x`);
    }
    for (const s of r.skipped) lines.push(`skipped ${s.name}: ${s.reason}`);
    const t = r.transport;
    if (t) {
      const share = (x: number) => `${((t.wsMsgpackBytesPerSec / x) * 100).toFixed(0)}%`;
      lines.push(
        `transport: ws+msgpack ${formatRate(t.wsMsgpackBytesPerSec)}, raw TCP ${formatRate(t.rawTcpBytesPerSec)} (${share(t.rawTcpBytesPerSec)} of raw), ` +
          `raw TCP into messages ${formatRate(t.rawTcpIntoMessagesBytesPerSec)} (${share(t.rawTcpIntoMessagesBytesPerSec)} of it)`,
      );
      lines.push(`  ${t.method}`);
      const pct = (x: number | null) => (x === null ? '?' : `${(x * 100).toFixed(0)}%`);
      for (const d of t.directions) {
        const { ws, tcp } = d.gcShare;
        lines.push(
          `  ${d.from}->${d.to}: ws+msgpack ${formatRate(d.wsMsgpackBytesPerSec)} (in GC: sender ${pct(ws.sender)}, receiver ${pct(ws.receiver)}), ` +
            `raw TCP ${formatRate(d.rawTcpBytesPerSec)} (${pct(tcp.sender)}, ${pct(tcp.receiver)}), into messages ${formatRate(d.rawTcpIntoMessagesBytesPerSec)}`,
        );
      }
    } else if (r.transportNote) {
      lines.push(`transport: ${r.transportNote}`);
    }
  }
  if (r.simulation) lines.push('', simulationTable(r.simulation));
  return lines.join('\n');
}

export function simulationTable(s: SimulationReport): string {
  const lines = [
    `projection (sim-model.ts): heads ${s.heads}/${s.kvHeads}, head dim ${s.headDim}, ${s.causal ? 'causal' : 'not causal'}, fp32 on the wire, one layer forward + backward`,
    `per-rank kernel ${(s.flopsPerSec / 1e9).toFixed(1)} GFLOP/s (${s.flopsSource})`,
    'cells: step ms, efficiency (useful FLOPs / (P·F) / step), share of the step that is exposed communication',
  ];
  if (s.checks.length > 0) {
    lines.push(`model at this run's point (its P and S, kernel = the alone and all-busy rates, link = the measured ws+msgpack rate, no latency): ${s.checks.map((c) => `${c.strategy} ${c.modelMs === null ? 'n/a' : fmtMs(c.modelMs)} (measured ${fmtMs(c.measuredMs)})`).join(', ')}`);
  }
  for (const link of s.links) {
    lines.push('', `link ${link.name}: ${(link.bytesPerSec / 1e9).toFixed(1)} GB/s per rank, ${(link.latencySec * 1e6).toFixed(1)} µs per message`);
    const rows = [['strategy', 'S', ...s.workers.map((P) => `P=${P}`)]];
    const notes = new Set<string>();
    for (const strategy of new Set(s.rows.map((row) => row.strategy))) {
      for (const seqLen of s.seqLens) {
        const cells = s.workers.map((P) => {
          const row = s.rows.find((x) => x.link === link.name && x.strategy === strategy && x.seqLen === seqLen && x.workers === P);
          if (!row) return '-';
          if (!row.feasible) {
            notes.add(`${strategy}: ${row.reason}`);
            return 'n/a';
          }
          const mem = row.scoreMemoryBytes ? ` ${formatBytes(row.scoreMemoryBytes)}` : '';
          return `${fmtMs(row.stepMs!)} ${row.efficiency!.toFixed(2)} ${(row.exposedCommFraction! * 100).toFixed(0)}%${mem}`;
        });
        rows.push([strategy, formatTokens(seqLen), ...cells]);
      }
    }
    lines.push(formatTable(rows, [false, true, ...s.workers.map(() => true)]));
    for (const n of notes) lines.push(`  n/a ${n}`);
    if (s.rows.some((row) => row.link === link.name && row.scoreMemoryBytes)) lines.push('  rsa cells also show its stored probabilities per rank (S²/P · heads · 4 B)');
    const hidden = s.hiddenFrom.filter((h) => h.link === link.name);
    lines.push(`  communication hidden behind compute from S/P ≥ ${hidden.map((h) => `${h.strategy} ${h.tokensPerRank === null ? 'never (all-to-all not overlapped)' : Math.ceil(h.tokensPerRank)}`).join(', ')} tokens`);
  }
  return lines.join('\n');
}

export function fmtMs(ms: number): string {
  if (ms >= 1e5) return `${(ms / 1000).toFixed(0)}s`;
  if (ms >= 100) return `${ms.toFixed(0)}ms`;
  return `${ms.toPrecision(3)}ms`;
}

function fmtRatio(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '-';
  return x >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}
