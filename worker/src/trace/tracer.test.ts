import { MAX_TRACE_SPANS, PHASE, SPAN, SPAN_INFO, TRACE_COLUMNS, type SpanCode } from '@ringtrain/protocol';
import { MODEL_PRESETS, OPTIM_DEFAULTS, type ModelConfig } from '@ringtrain/config';
import { tfjsKernel } from '@ringtrain/kernels';
import { makeLayout, shardTokens } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { getStrategy } from '../strategies/registry';
import { TrainSession } from '../train/train-session';
import { spanEnd, spanStart, traceTransfer, tracing, withTrace, type TraceDump } from './tracer';

interface Span {
  name: string;
  start: number;
  end: number;
  phase: number;
  layer: number;
  hop: number;
  peer: number;
}

function spansOf(t: TraceDump): Span[] {
  const w = TRACE_COLUMNS.length;
  return Array.from({ length: t.count }, (_, i) => ({
    name: SPAN_INFO[t.codes[i * w] as SpanCode].name,
    start: t.times[2 * i],
    end: t.times[2 * i + 1],
    phase: t.codes[i * w + 1],
    layer: t.codes[i * w + 2],
    hop: t.codes[i * w + 3],
    peer: t.codes[i * w + 4],
  }));
}

describe('tracer', () => {
  it('off: records nothing, hands transfers back untouched, returns no trace', async () => {
    expect(tracing()).toBe(false);
    expect(spanStart()).toBe(0);
    spanEnd(SPAN.attention, 0, PHASE.fwd, 1, 2, 3);
    const p = Promise.resolve(7);
    expect(traceTransfer(p, SPAN.sendKv, PHASE.fwd, 0, 0, 1)).toBe(p);
    const { result, trace } = await withTrace(false, async () => 'done');
    expect(result).toBe('done');
    expect(trace).toBeNull();
    // The next traced step starts empty: nothing from the untraced calls above.
    const traced = await withTrace(true, async () => undefined);
    expect(spansOf(traced.trace!).map((s) => s.name)).toEqual(['step']);
  });

  it('on: spans with their codes, relative to the earliest start, inside the step span', async () => {
    const { trace } = await withTrace(true, async () => {
      const t0 = spanStart();
      await traceTransfer(new Promise((r) => setTimeout(r, 5)), SPAN.recvKv, PHASE.bwd, 1, 0, 1);
      spanEnd(SPAN.attention, t0, PHASE.bwd, 1, 0, 0);
    });
    const spans = spansOf(trace!);
    expect(trace!.times).toBeInstanceOf(Float32Array);
    expect(spans.map(({ name, phase, layer, hop, peer }) => ({ name, phase, layer, hop, peer }))).toEqual([
      { name: 'recv kv', phase: PHASE.bwd, layer: 1, hop: 0, peer: 1 },
      { name: 'attention', phase: PHASE.bwd, layer: 1, hop: 0, peer: 0 },
      { name: 'step', phase: -1, layer: -1, hop: -1, peer: -1 },
    ]);
    expect(Math.min(...spans.map((s) => s.start))).toBe(0);
    expect(spans[0].end - spans[0].start).toBeGreaterThanOrEqual(4);
    const step = spans[2];
    for (const s of spans) {
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      expect(s.start).toBeGreaterThanOrEqual(step.start);
      expect(s.end).toBeLessThanOrEqual(step.end);
    }
    expect(Math.abs(trace!.originMs - Date.now())).toBeLessThan(10_000);
    expect(tracing()).toBe(false);
  });

  it(`keeps at most ${MAX_TRACE_SPANS} spans a step and counts the rest`, async () => {
    const { trace } = await withTrace(true, async () => {
      for (let i = 0; i < MAX_TRACE_SPANS + 3; i++) spanEnd(SPAN.wait, spanStart());
    });
    expect(trace!.count).toBe(MAX_TRACE_SPANS);
    expect(trace!.dropped).toBe(4); // 3 waits and the step span
    expect(trace!.codes.length).toBe(MAX_TRACE_SPANS * TRACE_COLUMNS.length);
  });

  it('is off again after a step that failed', async () => {
    await expect(withTrace(true, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(tracing()).toBe(false);
  });

  it('a traced striped step on 2 ranks: kernels, K/V and dK/dV transfers per layer and hop, segments, all-reduce, optimizer', async () => {
    const cfg: ModelConfig = { ...MODEL_PRESETS.tiny, vocabSize: 11 };
    const S = 8;
    const B = 1;
    const tokens = Int32Array.from({ length: S }, (_, i) => i % 11);
    const targets = Int32Array.from({ length: S }, (_, i) => (i + 1) % 11);
    const strategy = getStrategy('striped');
    const layout = makeLayout(strategy.layout, S, 2);
    const optim = { ...OPTIM_DEFAULTS, totalSteps: 10 };
    const world = createInMemoryWorld(2);
    const sessions = world.map(() => new TrainSession(cfg, optim, 1));
    const step = () => Promise.all(world.map((transport, r) => sessions[r].step({ transport, kernel: tfjsKernel, strategy }, {
      ...shardTokens(layout, r, tokens, targets, B, 0), pos: layout.positions(r), batch: B, seqLen: S, globalTokens: S,
    })));
    await step(); // untraced
    const { trace } = await withTrace(true, step);
    // Both ranks share this process's tracer here: every count is per rank × 2.
    const spans = spansOf(trace!);
    const count = (name: string, f: Partial<Span> = {}) => spans.filter((s) => s.name === name && Object.entries(f).every(([k, v]) => s[k as keyof Span] === v)).length;
    for (let layer = 0; layer < cfg.layers; layer++) {
      for (const phase of [PHASE.fwd, PHASE.bwd]) {
        for (const hop of [0, 1]) expect({ layer, phase, hop, kernels: count('attention', { layer, phase, hop }) }).toEqual({ layer, phase, hop, kernels: 2 });
        expect(count('send kv', { layer, phase, hop: 0 })).toBe(2);
        expect(count('recv kv', { layer, phase, hop: 0 })).toBe(2);
        expect(count('pre-attention', { layer, phase })).toBe(2);
        expect(count('post-attention', { layer, phase })).toBe(2);
      }
      // The accumulator starts at the next rank (ring step 1) and reaches its owner.
      expect(count('send dkv', { layer, phase: PHASE.bwd, hop: 1 })).toBe(2);
      expect(count('recv dkv', { layer, phase: PHASE.bwd, hop: 1 })).toBe(2);
      expect(count('allreduce', { layer })).toBe(2);
    }
    // Rank 0 sends to rank 1 and rank 1 to rank 0, in both phases of every layer.
    for (const peer of [0, 1]) expect(count('send kv', { peer })).toBe(2 * cfg.layers);
    expect(count('allreduce', { layer: -1 })).toBe(2);
    expect(count('optimizer')).toBe(2);
    expect(count('step')).toBe(1);
    const whole = spans.find((s) => s.name === 'step')!;
    for (const s of spans) expect(s.start >= whole.start && s.end <= whole.end).toBe(true);
  });
});
