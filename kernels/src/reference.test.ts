import { RingtrainError } from '@ringtrain/core';
import { referenceBackward, referenceBackward64, referenceForward, referenceForward64, type ReferenceInputs } from './reference';
import { contiguous, expectAllEqual, expectClose, makeProblem, seededRandom } from '../testing/helpers';

/** The oracle is only worth something if it is right: hand-computed values and finite differences. */
describe('reference attention', () => {
  const twoKeys: ReferenceInputs = {
    // q = 1, keys 0 and ln 3: softmax weights 1/4 and 3/4 over values 4 and 8.
    q: Float64Array.of(1),
    k: Float64Array.of(0, Math.log(3)),
    v: Float64Array.of(4, 8),
    seqQ: 1,
    seqK: 2,
    heads: 1,
    kvHeads: 1,
    headDim: 1,
    posQ: Int32Array.of(0),
    posK: Int32Array.of(0, 1),
    causal: false,
    scale: 1,
  };

  test('hand-computed softmax and lse', () => {
    const r = referenceForward64(twoKeys);
    expect(r.out[0]).toBeCloseTo(0.25 * 4 + 0.75 * 8, 12);
    expect(r.lse[0]).toBeCloseTo(Math.log(4), 12);
  });

  test('causal mask uses positions: the later key is hidden', () => {
    const r = referenceForward64({ ...twoKeys, causal: true });
    expect(r.out[0]).toBe(4);
    expect(r.lse[0]).toBe(0);
  });

  test('a row that sees no key: out 0, lse -inf, zero grads', () => {
    const inp = { ...twoKeys, posQ: Int32Array.of(-1), causal: true };
    const r = referenceForward(inp);
    expect(r.out[0]).toBe(0);
    expect(r.lse[0]).toBe(-Infinity);
    const g = referenceBackward({ ...inp, dout: Float32Array.of(1) });
    expect([g.dq[0], g.dk[0], g.dk[1], g.dv[0], g.dv[1]]).toEqual([0, 0, 0, 0, 0]);
  });

  test('GQA: query head h reads K/V head floor(h / (H / Hkv))', () => {
    const heads = 6;
    const kvHeads = 2;
    const p = makeProblem({ heads, kvHeads, headDim: 5, posQ: contiguous(0, 9), posK: contiguous(0, 11), causal: true, seed: 7 });
    // The same problem with every query head given its own copy of its K/V head.
    const expand = (a: Float32Array | Float64Array) => {
      const out = new Float32Array(p.seqK * heads * p.headDim);
      for (let j = 0; j < p.seqK; j++) {
        for (let h = 0; h < heads; h++) {
          const src = (j * kvHeads + Math.floor(h / (heads / kvHeads))) * p.headDim;
          out.set(a.subarray(src, src + p.headDim), (j * heads + h) * p.headDim);
        }
      }
      return out;
    };
    const grouped = referenceForward(p);
    const expanded = referenceForward({ ...p, kvHeads: heads, k: expand(p.k), v: expand(p.v) });
    expect(Array.from(grouped.out)).toEqual(Array.from(expanded.out));
    expect(Array.from(grouped.lse)).toEqual(Array.from(expanded.lse));
  });

  test.each([
    ['causal GQA with a fully masked row', 4, 2, true],
    ['non-causal MQA', 3, 1, false],
  ])('backward matches finite differences in float64: %s', (_name, heads, kvHeads, causal) => {
    const rand = seededRandom(11);
    const headDim = 3;
    const posQ = Int32Array.of(0, 3, 4, 7, 9); // query 0 precedes every key
    const posK = Int32Array.of(1, 2, 3, 5, 6, 8);
    const rnd = (n: number) => Float64Array.from({ length: n }, () => 2 * rand() - 1);
    const inp: ReferenceInputs = {
      q: rnd(posQ.length * heads * headDim),
      k: rnd(posK.length * kvHeads * headDim),
      v: rnd(posK.length * kvHeads * headDim),
      seqQ: posQ.length,
      seqK: posK.length,
      heads,
      kvHeads,
      headDim,
      posQ,
      posK,
      causal,
      scale: 0.7,
    };
    const dout = rnd(posQ.length * heads * headDim);
    // Loss = Σ out ∘ dout, so its gradient is exactly what referenceBackward64 computes.
    const loss = (x: ReferenceInputs) => referenceForward64(x).out.reduce((acc, o, i) => acc + o * dout[i], 0);
    const analytic = referenceBackward64({ ...inp, dout });
    const eps = 1e-6;
    for (const name of ['q', 'k', 'v'] as const) {
      const numeric = new Float64Array(inp[name].length);
      for (let i = 0; i < numeric.length; i++) {
        const plus = Float64Array.from(inp[name]);
        const minus = Float64Array.from(inp[name]);
        plus[i] += eps;
        minus[i] -= eps;
        numeric[i] = (loss({ ...inp, [name]: plus }) - loss({ ...inp, [name]: minus })) / (2 * eps);
      }
      const grad = name === 'q' ? analytic.dq : name === 'k' ? analytic.dk : analytic.dv;
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(0.05); // not a vacuous comparison
      expectClose(`d${name}`, grad, numeric, 1e-8);
    }
    if (causal) expectAllEqual('dq of the masked row', analytic.dq.subarray(0, heads * headDim), 0);
  });

  test('backward uses the given out/lse when provided, and recomputes them otherwise', () => {
    const p = makeProblem({ heads: 4, kvHeads: 2, headDim: 8, posQ: contiguous(10, 13), posK: contiguous(0, 17), causal: true });
    const fwd = referenceForward64(p);
    const given = referenceBackward64({ ...p, out: fwd.out, lse: fwd.lse });
    const recomputed = referenceBackward64(p);
    expect(Array.from(given.dq)).toEqual(Array.from(recomputed.dq));
    expect(Array.from(given.dk)).toEqual(Array.from(recomputed.dk));
    // A different lse must change the result: the given one is really used.
    const shifted = referenceBackward64({ ...p, out: fwd.out, lse: fwd.lse.map((x) => x + 1) });
    expect(shifted.dv[0]).toBeCloseTo(recomputed.dv[0] / Math.E, 10);
  });

  test('rejects arrays of the wrong size with KERNEL_SHAPE', () => {
    const bad = () => referenceForward({ ...twoKeys, k: Float64Array.of(0) });
    expect(bad).toThrow(RingtrainError);
    expect(bad).toThrow(/k has 1 values, expected 2/);
    expect(() => referenceForward({ ...twoKeys, heads: 3, kvHeads: 2, q: new Float64Array(3) })).toThrow(/multiple of kvHeads/);
  });
});
