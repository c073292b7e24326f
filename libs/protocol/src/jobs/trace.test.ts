import { decodeJobResult } from './registry';
import { MAX_TRACE_SPANS, PHASE, SPAN, SPAN_COUNT, SPAN_INFO, TRACE_COLUMNS } from './trace';
import type { WireTensor } from '../tensor';

/** A train-step result's trace fields: whole and bounded, or refused with the field at fault. */
const META = { loss: 1, gradNorm: 1, lr: 1e-3, computeMs: 1, attentionMs: 1, commMs: 1, allReduceMs: 1, optimizerMs: 1, rssBytes: 1, maxBlockMs: 1 };
const CLOCKS = { traceOriginMs: 1.7e12, recvAtMs: 1.7e12 - 1, sendAtMs: 1.7e12 + 50 };

function times(rows: number[][]): WireTensor {
  return { dtype: 'float32', shape: [rows.length, 2], data: Float32Array.from(rows.flat()) };
}
function codes(rows: number[][], width: number = TRACE_COLUMNS.length): WireTensor {
  return { dtype: 'int32', shape: [rows.length, width], data: Int32Array.from(rows.flat()) };
}
const decode = (meta: Record<string, number>, tensors: Record<string, WireTensor>) => decodeJobResult('train-step', { meta: { ...META, ...meta }, tensors });

const GOOD = {
  times: times([[0, 40], [1, 2.5]]),
  codes: codes([[SPAN.step, -1, -1, -1, -1], [SPAN.attention, PHASE.fwd, 3, 1, 0]]),
};

describe('train-step trace fields', () => {
  it('every span code has a name and category, codes run 0..SPAN_COUNT-1', () => {
    expect(Object.values(SPAN).sort((a, b) => a - b)).toEqual(Array.from({ length: SPAN_COUNT }, (_, i) => i));
    for (const code of Object.values(SPAN)) expect(SPAN_INFO[code].name).toBeTruthy();
  });

  it('a result without a trace, and one with a whole trace, pass', () => {
    expect(decode({}, {}).tensors.traceTimes).toBeUndefined();
    const r = decode(CLOCKS, { traceTimes: GOOD.times, traceCodes: GOOD.codes });
    expect(r.tensors.traceCodes!.shape).toEqual([2, 5]);
    expect(r.meta.sendAtMs).toBe(CLOCKS.sendAtMs);
    expect(decode({ ...CLOCKS }, { traceTimes: times([]), traceCodes: codes([]) }).tensors.traceTimes!.shape).toEqual([0, 2]);
  });

  const bad: Array<[string, Record<string, number>, Record<string, WireTensor>, RegExp]> = [
    ['spans without the clocks', {}, { traceTimes: GOOD.times, traceCodes: GOOD.codes }, /traceTimes, traceCodes, traceOriginMs, recvAtMs and sendAtMs together/],
    ['times without codes', CLOCKS, { traceTimes: GOOD.times }, /got 4 of them, expected traceTimes, traceCodes/],
    ['a dropped count without a trace', { traceDropped: 3 }, {}, /meta.traceDropped/],
    ['more rows of codes than of times', CLOCKS, { traceTimes: GOOD.times, traceCodes: codes([[0, -1, -1, -1, -1], [0, -1, -1, -1, -1], [0, -1, -1, -1, -1]]) }, /tensors.traceCodes: got shape \[3, 5\], expected shape \[2, 5\]/],
    ['codes of the wrong width', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[0, -1, -1, -1]], 4) }, /tensors.traceCodes/],
    ['times of the wrong width', CLOCKS, { traceTimes: { dtype: 'float32', shape: [1, 3], data: new Float32Array(3) }, traceCodes: codes([[0, -1, -1, -1, -1]]) }, /tensors.traceTimes: got shape \[1, 3\]/],
    ['an unknown span code', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[SPAN_COUNT, -1, -1, -1, -1]]) }, /traceCodes\[0\].name/],
    ['a negative span code', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[-1, -1, -1, -1, -1]]) }, /traceCodes\[0\].name/],
    ['an unknown phase', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[0, 2, -1, -1, -1]]) }, /traceCodes\[0\].phase/],
    ['a layer out of range', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[0, -1, 1 << 21, -1, -1]]) }, /traceCodes\[0\].layer/],
    ['a peer below -1', CLOCKS, { traceTimes: times([[0, 1]]), traceCodes: codes([[0, -1, -1, -1, -2]]) }, /traceCodes\[0\].peer/],
    ['an end before the start', CLOCKS, { traceTimes: times([[0, 1], [5, 4]]), traceCodes: GOOD.codes }, /traceTimes\[1\]: got 5, 4/],
    ['a NaN time', CLOCKS, { traceTimes: times([[NaN, 1]]), traceCodes: codes([[0, -1, -1, -1, -1]]) }, /traceTimes\[0\]/],
  ];
  it.each(bad)('refuses %s', (_what, meta, tensors, message) => {
    expect(() => decode(meta, tensors)).toThrow(message);
  });

  it(`refuses more than ${MAX_TRACE_SPANS} spans before reading any of them`, () => {
    const n = MAX_TRACE_SPANS + 1;
    const big = { traceTimes: { dtype: 'float32' as const, shape: [n, 2], data: new Float32Array(2 * n) }, traceCodes: { dtype: 'int32' as const, shape: [n, 5], data: new Int32Array(5 * n) } };
    expect(() => decode(CLOCKS, big)).toThrow(/at most 100000 spans/);
  });
});
