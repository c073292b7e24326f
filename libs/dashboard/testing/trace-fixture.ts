import type { TraceSpan, TraceStep } from '../src/types';

/**
 * A plausible trace.jsonl line (the data contract, item 3) of one ring-attention training step
 * on `ranks` ranks: per layer, forward then backward, each rank runs its layer segments and
 * P attention kernels (one per hop), sending its K/V block to rank+1 and receiving rank-1's
 * while it computes; a transfer that is late shows as a wait. Then the all-reduce per layer and
 * the optimizer. For tests and screenshots until (and besides) real traces.
 */
export function ringTraceFixture(opts: { step: number; ranks: number; layers?: number; startMs?: number; slowRank?: number; hosts?: string[] }): TraceStep {
  const P = opts.ranks;
  const layers = opts.layers ?? 2;
  const start = opts.startMs ?? Date.UTC(2026, 11, 5, 12, 0, 0);
  const ranks = [];
  const stepMsOf: number[] = [];
  for (let r = 0; r < P; r++) {
    const slow = r === opts.slowRank ? 1.6 : 1;
    const spans: TraceSpan[] = [];
    let t = start + 0.2 * r;
    let waitMs = 0;
    let commMs = 0;
    let kernelMs = 0;
    let computeMs = 0;
    const seg = (name: string, dur: number, layer?: number, phase?: string) => {
      spans.push({ name, cat: 'segment', ts: t, dur, ...(layer !== undefined ? { layer } : {}), ...(phase ? { phase } : {}) });
      computeMs += dur;
      t += dur;
    };
    seg('embedding', 0.8);
    for (const phase of ['fwd', 'bwd']) {
      const order = phase === 'fwd' ? [...Array(layers).keys()] : [...Array(layers).keys()].reverse();
      for (const layer of order) {
        seg(phase === 'fwd' ? 'pre-attention' : 'post-attention', 1.5 * slow, layer, phase);
        for (let hop = 0; hop < P; hop++) {
          const kdur = (phase === 'fwd' ? 2.2 : 4.8) * slow * (1 + 0.1 * ((r + hop) % 3));
          if (hop < P - 1) {
            const xfer = phase === 'fwd' ? 2.0 : 3.6;
            spans.push({ name: phase === 'fwd' ? 'send kv' : 'send dkv', cat: 'send', ts: t + 0.05, dur: xfer, layer, hop, phase, peer: (r + 1) % P });
            spans.push({ name: phase === 'fwd' ? 'recv kv' : 'recv dkv', cat: 'recv', ts: t + 0.1, dur: xfer * 1.1, layer, hop, phase, peer: (r + P - 1) % P });
            commMs += xfer * 2.1;
          }
          spans.push({ name: 'attention', cat: 'kernel', ts: t, dur: kdur, layer, hop, phase });
          kernelMs += kdur;
          computeMs += kdur;
          t += kdur;
          if (hop < P - 1 && (hop + layer + r) % 3 === 0) {
            const w = 0.6;
            spans.push({ name: 'wait', cat: 'wait', ts: t, dur: w, layer, hop, phase, peer: (r + P - 1) % P });
            waitMs += w;
            t += w;
          }
        }
        seg(phase === 'fwd' ? 'post-attention' : 'pre-attention', 1.2 * slow, layer, phase);
        if (phase === 'bwd') spans.push({ name: 'allreduce', cat: 'allreduce', ts: t, dur: 2.5, layer, peer: (r + 1) % P });
      }
    }
    seg('head', 1.1);
    t += 2.5;
    spans.push({ name: 'optimizer', cat: 'optimizer', ts: t, dur: 0.9 });
    t += 0.9;
    const stepMs = t - start;
    spans.unshift({ name: 'step', cat: 'step', ts: start, dur: stepMs });
    stepMsOf.push(stepMs);
    ranks.push({ rank: r, host: opts.hosts?.[r] ?? 'localhost', offsetMs: r === 0 ? 0 : -0.4 * r, summary: { stepMs, computeMs, kernelMs, commMs, waitMs, overlap: commMs === 0 ? 1 : 1 - waitMs / commMs, straggler: false }, spans });
  }
  const sorted = [...stepMsOf].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  for (const r of ranks) r.summary.straggler = r.summary.stepMs > median * 1.1;
  return { step: opts.step, time: new Date(start).toISOString(), stepMs: Math.max(...stepMsOf), ranks };
}
