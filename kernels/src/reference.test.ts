import { RingtrainError } from '@ringtrain/core';
import { referenceBackward, referenceBackward64, referenceForward, referenceForward64, type ReferenceInputs } from './reference';
import { contiguous, documentsAt, expectAllEqual, expectClose, makeProblem, seededRandom, striped, type Problem } from '../testing/helpers';

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

  test('backward with documents matches finite differences in float64', () => {
    const rand = seededRandom(13);
    const heads = 4;
    const kvHeads = 2;
    const headDim = 3;
    const posQ = Int32Array.of(0, 3, 4, 7, 9);
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
      docQ: Int32Array.of(4, 4, -1, -1, 9), // query 9 is alone in its document
      docK: Int32Array.of(4, 4, -1, -1, -1, 4),
      causal: true,
      scale: 0.7,
    };
    const dout = rnd(posQ.length * heads * headDim);
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
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(0.05);
      expectClose(`d${name}`, grad, numeric, 1e-8);
    }
    // Query 0 (document 4) precedes its keys; query 9 has no key of its document.
    expectAllEqual('dq of query 0', analytic.dq.subarray(0, heads * headDim), 0);
    expectAllEqual('dq of query 9', analytic.dq.subarray(4 * heads * headDim), 0);
  });

  test('rejects arrays of the wrong size with KERNEL_SHAPE', () => {
    const bad = () => referenceForward({ ...twoKeys, k: Float64Array.of(0) });
    expect(bad).toThrow(RingtrainError);
    expect(bad).toThrow(/k has 1 values, expected 2/);
    expect(() => referenceForward({ ...twoKeys, heads: 3, kvHeads: 2, q: new Float64Array(3) })).toThrow(/multiple of kvHeads/);
  });

  test('documents for one side only, or of the wrong length, are refused with KERNEL_SHAPE', () => {
    const one = () => referenceForward({ ...twoKeys, docQ: Int32Array.of(0) });
    expect(one).toThrow(RingtrainError);
    expect(one).toThrow(/docQ and docK must be given together/);
    expect(() => referenceBackward({ ...twoKeys, docK: Int32Array.of(0, 0), dout: Float32Array.of(1) })).toThrow(/docQ and docK/);
    expect(() => referenceForward({ ...twoKeys, docQ: Int32Array.of(0), docK: Int32Array.of(0) })).toThrow(/docK has 1 values, expected 2/);
    expect(() => referenceForward({ ...twoKeys, docQ: Int32Array.of(0, 0), docK: Int32Array.of(0, 0) })).toThrow(/docQ has 2 values, expected 1/);
  });
});

/**
 * Packing is only right if it changes nothing: attention over a pack of documents, masked by
 * document, must equal attention over each document on its own (brute force: cut the pack into
 * documents, run each, put the rows back).
 */
describe('reference attention with documents equals attention per document', () => {
  /** The rows (sequence-major) of `a` at `idx`, each of `width` values. */
  const take = (a: Float32Array, idx: number[], width: number) => {
    const out = new Float32Array(idx.length * width);
    idx.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width), i * width));
    return out;
  };
  const put = (dst: Float64Array, src: Float64Array, idx: number[], width: number) =>
    idx.forEach((r, i) => dst.set(src.subarray(i * width, (i + 1) * width), r * width));

  /** Forward and backward of the pack computed document by document, without any document mask. */
  function perDocument(p: Problem) {
    const { heads: H, kvHeads: Hkv, headDim: D, docQ, docK } = p;
    if (docQ === undefined || docK === undefined) throw new Error('needs documents');
    const out = new Float64Array(p.seqQ * H * D);
    const lse = new Float64Array(p.seqQ * H).fill(-Infinity); // a query whose document has no key here
    const dq = new Float64Array(p.seqQ * H * D);
    const dk = new Float64Array(p.seqK * Hkv * D);
    const dv = new Float64Array(p.seqK * Hkv * D);
    for (const doc of new Set([...docQ, ...docK])) {
      const qi = [...docQ.keys()].filter((i) => docQ[i] === doc);
      const kj = [...docK.keys()].filter((j) => docK[j] === doc);
      if (qi.length === 0 || kj.length === 0) continue;
      const sub: ReferenceInputs & { dout: Float32Array } = {
        q: take(p.q, qi, H * D),
        k: take(p.k, kj, Hkv * D),
        v: take(p.v, kj, Hkv * D),
        dout: take(p.dout, qi, H * D),
        seqQ: qi.length,
        seqK: kj.length,
        heads: H,
        kvHeads: Hkv,
        headDim: D,
        posQ: Int32Array.from(qi, (i) => p.posQ[i]),
        posK: Int32Array.from(kj, (j) => p.posK[j]),
        causal: p.causal,
        scale: p.scale,
      };
      const f = referenceForward64(sub);
      const g = referenceBackward64(sub);
      put(out, f.out, qi, H * D);
      put(lse, f.lse, qi, H);
      put(dq, g.dq, qi, H * D);
      put(dk, g.dk, kj, Hkv * D);
      put(dv, g.dv, kj, Hkv * D);
    }
    return { out, lse, dq, dk, dv };
  }

  test.each([
    ['contiguous, causal, a one-token document', contiguous(0, 40), contiguous(0, 40), [0, 9, 10, 31], undefined, true],
    ['striped query and key blocks, causal', striped(1, 3, 60), striped(2, 3, 60), [0, 13, 14, 40], undefined, true],
    ['non-causal, unsorted ids, a document without keys', contiguous(0, 30), contiguous(0, 20), [0, 5, 12, 20], [99, -7, 3, 5000], false],
    ['shuffled positions', Int32Array.of(17, 3, 40, 8, 0, 25, 31, 12, 5), Int32Array.of(5, 12, 31, 25, 0, 8, 40, 3, 17), [0, 6, 20], [2, 1, 0], true],
  ])('%s', (_name, posQ, posK, starts, ids, causal) => {
    const docQ = documentsAt(posQ, starts, ids);
    const docK = documentsAt(posK, starts, ids);
    const p = makeProblem({ heads: 4, kvHeads: 2, headDim: 5, posQ, posK, docQ, docK, causal, seed: 21 });
    const want = perDocument(p);
    const f = referenceForward64(p);
    const g = referenceBackward64(p);
    expectClose('out', f.out, want.out, 1e-12);
    expectClose('lse', f.lse, want.lse, 1e-12);
    expectClose('dq', g.dq, want.dq, 1e-12);
    expectClose('dk', g.dk, want.dk, 1e-12);
    expectClose('dv', g.dv, want.dv, 1e-12);
    // Not vacuous: the documents really change the result.
    const unmasked = referenceForward64({ ...p, docQ: undefined, docK: undefined });
    expect(errorOf(unmasked.out, f.out)).toBeGreaterThan(1e-3);
  });

  test('documents all the same id: exactly the result without documents', () => {
    const p = makeProblem({ heads: 2, kvHeads: 1, headDim: 4, posQ: contiguous(0, 12), posK: contiguous(0, 12), causal: true });
    const same = new Int32Array(12).fill(-8);
    const a = referenceBackward64({ ...p, docQ: same, docK: same });
    const b = referenceBackward64(p);
    expect(Array.from(a.dq)).toEqual(Array.from(b.dq));
    expect(Array.from(a.dk)).toEqual(Array.from(b.dk));
  });
});

function errorOf(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
