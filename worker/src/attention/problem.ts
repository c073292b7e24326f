import { RingtrainError } from '@ringtrain/core';

/** The shape of one attention call, the same on every rank. */
export interface AttentionProblem {
  readonly seqLen: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly causal: boolean;
  readonly scale: number;
}

export function makeProblem(opts: { seqLen: number; heads: number; kvHeads?: number; headDim: number; causal: boolean; scale?: number }): AttentionProblem {
  const kvHeads = opts.kvHeads ?? opts.heads;
  const problem = Object.freeze({
    seqLen: opts.seqLen,
    heads: opts.heads,
    kvHeads,
    headDim: opts.headDim,
    causal: opts.causal,
    scale: opts.scale ?? 1 / Math.sqrt(opts.headDim),
  });
  checkProblem(problem);
  return problem;
}

function positiveInt(option: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RingtrainError('BAD_OPTION', `${option} ${value} must be a positive integer`, { hint: `pass ${option} 1 or more`, details: { option, value } });
  }
}

/** Invariants every strategy relies on, checked once. */
export function checkProblem(p: AttentionProblem): void {
  positiveInt('--seq-len', p.seqLen);
  positiveInt('--heads', p.heads);
  positiveInt('--kv-heads', p.kvHeads);
  positiveInt('--head-dim', p.headDim);
  if (p.kvHeads > p.heads || p.heads % p.kvHeads !== 0) {
    const divisors = Array.from({ length: p.heads }, (_, i) => i + 1).filter((d) => p.heads % d === 0);
    throw new RingtrainError('BAD_KV_HEADS', `--kv-heads ${p.kvHeads} must divide --heads ${p.heads} (each K/V head serves a whole group of query heads)`, {
      hint: `use --kv-heads one of ${divisors.join(', ')}`,
      details: { heads: p.heads, kvHeads: p.kvHeads },
    });
  }
  if (!(p.scale > 0) || !Number.isFinite(p.scale)) {
    throw new RingtrainError('BAD_OPTION', `scale ${p.scale} must be a positive finite number`);
  }
}
