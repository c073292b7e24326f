import { RingtrainError } from '@ringtrain/core';

/**
 * The plain attention oracle: loops over flat arrays, float64 accumulation, no tfjs.
 * Every fast kernel and every distributed strategy is checked against it.
 *
 * Layout is sequence-major, the global convention of the CLI and the .npy dumps:
 *   q, out, dout, dq: [Sq, H, D]    k, v, dk, dv: [Sk, Hkv, D]    lse: [Sq, H]
 * Query head h uses K/V head floor(h / (H / Hkv)). With causal, query i sees key j only if
 * posK[j] <= posQ[i]; with documents (docQ/docK, both or neither), only if docQ[i] === docK[j].
 * A row that sees no key has out 0, lse -Infinity and zero gradients.
 */
export type FloatArray = Float32Array | Float64Array;

export interface ReferenceInputs {
  q: FloatArray; // [Sq, H, D]
  k: FloatArray; // [Sk, Hkv, D]
  v: FloatArray; // [Sk, Hkv, D]
  seqQ: number;
  seqK: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  posQ: Int32Array; // [Sq]
  posK: Int32Array; // [Sk]
  /** Document ids of packed sequences: a query sees only keys of its own document. */
  docQ?: Int32Array; // [Sq]
  docK?: Int32Array; // [Sk]
  causal: boolean;
  scale: number;
}

export interface ReferenceBackwardInputs extends ReferenceInputs {
  dout: FloatArray; // [Sq, H, D]
  /** Final output and lse; recomputed here when either is missing. */
  out?: FloatArray; // [Sq, H, D]
  lse?: FloatArray; // [Sq, H]
}

export interface ReferenceForward<T extends FloatArray> {
  out: T; // [Sq, H, D]
  lse: T; // [Sq, H]
}

export interface ReferenceGrads<T extends FloatArray> {
  dq: T; // [Sq, H, D]
  dk: T; // [Sk, Hkv, D]
  dv: T; // [Sk, Hkv, D]
}

export function referenceForward(inp: ReferenceInputs): ReferenceForward<Float32Array> {
  const r = referenceForward64(inp);
  return { out: Float32Array.from(r.out), lse: Float32Array.from(r.lse) };
}

export function referenceBackward(inp: ReferenceBackwardInputs): ReferenceGrads<Float32Array> {
  const g = referenceBackward64(inp);
  return { dq: Float32Array.from(g.dq), dk: Float32Array.from(g.dk), dv: Float32Array.from(g.dv) };
}

/** Forward with float64 results, for checks finer than fp32 (finite differences). */
export function referenceForward64(inp: ReferenceInputs): ReferenceForward<Float64Array> {
  checkSizes(inp);
  const { q, k, v, seqQ, seqK, heads, kvHeads, headDim: D, scale } = inp;
  const hidden = hiddenPair(inp);
  const group = heads / kvHeads;
  const out = new Float64Array(seqQ * heads * D);
  const lse = new Float64Array(seqQ * heads);
  const s = new Float64Array(seqK); // scores of one row; -inf where masked
  const acc = new Float64Array(D);
  for (let i = 0; i < seqQ; i++) {
    for (let h = 0; h < heads; h++) {
      const qOff = (i * heads + h) * D;
      const kvh = Math.floor(h / group);
      let m = -Infinity;
      for (let j = 0; j < seqK; j++) {
        if (hidden(i, j)) {
          s[j] = -Infinity;
          continue;
        }
        const kOff = (j * kvHeads + kvh) * D;
        let dot = 0;
        for (let c = 0; c < D; c++) dot += q[qOff + c] * k[kOff + c];
        s[j] = dot * scale;
        if (s[j] > m) m = s[j];
      }
      if (m === -Infinity) {
        lse[i * heads + h] = -Infinity; // out stays 0
        continue;
      }
      acc.fill(0);
      let l = 0;
      for (let j = 0; j < seqK; j++) {
        if (s[j] === -Infinity) continue;
        const p = Math.exp(s[j] - m);
        l += p;
        const vOff = (j * kvHeads + kvh) * D;
        for (let c = 0; c < D; c++) acc[c] += p * v[vOff + c];
      }
      for (let c = 0; c < D; c++) out[qOff + c] = acc[c] / l;
      lse[i * heads + h] = m + Math.log(l);
    }
  }
  return { out, lse };
}

/** Backward with float64 results: p = exp(s - lse), dS = p∘(dP - rowsum(dO∘O)). */
export function referenceBackward64(inp: ReferenceBackwardInputs): ReferenceGrads<Float64Array> {
  checkSizes(inp);
  const { q, k, v, dout, seqQ, seqK, heads, kvHeads, headDim: D, scale } = inp;
  const hidden = hiddenPair(inp);
  if (dout.length !== seqQ * heads * D) throw sizeError('dout', dout.length, seqQ * heads * D);
  let { out, lse } = inp;
  if (out === undefined || lse === undefined) {
    const fwd = referenceForward64(inp);
    out ??= fwd.out;
    lse ??= fwd.lse;
  }
  if (out.length !== seqQ * heads * D) throw sizeError('out', out.length, seqQ * heads * D);
  if (lse.length !== seqQ * heads) throw sizeError('lse', lse.length, seqQ * heads);
  const group = heads / kvHeads;
  const dq = new Float64Array(seqQ * heads * D);
  const dk = new Float64Array(seqK * kvHeads * D);
  const dv = new Float64Array(seqK * kvHeads * D);
  for (let i = 0; i < seqQ; i++) {
    for (let h = 0; h < heads; h++) {
      const rowLse = lse[i * heads + h];
      if (rowLse === -Infinity) continue; // saw no key: p = 0 everywhere
      const qOff = (i * heads + h) * D;
      const kvh = Math.floor(h / group);
      let rowDot = 0; // D in docs/attention.md
      for (let c = 0; c < D; c++) rowDot += dout[qOff + c] * out[qOff + c];
      for (let j = 0; j < seqK; j++) {
        if (hidden(i, j)) continue;
        const kOff = (j * kvHeads + kvh) * D;
        let dot = 0;
        let dp = 0;
        for (let c = 0; c < D; c++) {
          dot += q[qOff + c] * k[kOff + c];
          dp += dout[qOff + c] * v[kOff + c];
        }
        const p = Math.exp(dot * scale - rowLse);
        const ds = p * (dp - rowDot) * scale; // carries the scale for both dq and dk
        for (let c = 0; c < D; c++) {
          dq[qOff + c] += ds * k[kOff + c];
          dk[kOff + c] += ds * q[qOff + c];
          dv[kOff + c] += p * dout[qOff + c];
        }
      }
    }
  }
  return { dq, dk, dv };
}

function checkSizes(inp: ReferenceInputs): void {
  const { seqQ, seqK, heads, kvHeads, headDim: D } = inp;
  if (!(kvHeads >= 1 && heads % kvHeads === 0)) {
    throw new RingtrainError('KERNEL_SHAPE', `reference attention: heads ${heads} must be a multiple of kvHeads ${kvHeads}`, {
      hint: 'Use kvHeads that divide heads (GQA groups are contiguous query heads).',
      details: { heads, kvHeads },
    });
  }
  if (inp.q.length !== seqQ * heads * D) throw sizeError('q', inp.q.length, seqQ * heads * D);
  if (inp.k.length !== seqK * kvHeads * D) throw sizeError('k', inp.k.length, seqK * kvHeads * D);
  if (inp.v.length !== seqK * kvHeads * D) throw sizeError('v', inp.v.length, seqK * kvHeads * D);
  if (inp.posQ.length !== seqQ) throw sizeError('posQ', inp.posQ.length, seqQ);
  if (inp.posK.length !== seqK) throw sizeError('posK', inp.posK.length, seqK);
  if ((inp.docQ === undefined) !== (inp.docK === undefined)) {
    throw new RingtrainError('KERNEL_SHAPE', 'reference attention: docQ and docK must be given together', {
      hint: 'Pass the document id of every query (docQ [Sq]) and of every key (docK [Sk]), or neither.',
      details: { docQ: inp.docQ?.length ?? null, docK: inp.docK?.length ?? null },
    });
  }
  if (inp.docQ !== undefined && inp.docQ.length !== seqQ) throw sizeError('docQ', inp.docQ.length, seqQ);
  if (inp.docK !== undefined && inp.docK.length !== seqK) throw sizeError('docK', inp.docK.length, seqK);
}

/** The masking rule, written out pair by pair: true where query i must not see key j. */
function hiddenPair(inp: ReferenceInputs): (i: number, j: number) => boolean {
  const { posQ, posK, causal, docQ, docK } = inp;
  if (docQ !== undefined && docK !== undefined) return (i, j) => (causal && posK[j] > posQ[i]) || docQ[i] !== docK[j];
  return (i, j) => causal && posK[j] > posQ[i];
}

function sizeError(name: string, got: number, want: number): RingtrainError {
  return new RingtrainError('KERNEL_SHAPE', `reference attention: ${name} has ${got} values, expected ${want}`, {
    hint: 'Reference arrays are sequence-major: q/out/dout [Sq,H,D], k/v [Sk,Hkv,D], lse [Sq,H].',
    details: { array: name, got, want },
  });
}
