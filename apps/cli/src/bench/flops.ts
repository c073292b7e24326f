/**
 * The FLOP model every ringtrain benchmark uses (FlashAttention-2's convention), applied to
 * every kernel alike so their GFLOP/s compare:
 *   forward   4·S²·D·H       two matmuls, S = Q·Kᵀ and O = P·V (2·S²·D each, per head)
 *   backward 10·S²·D·H       five matmuls: S recomputed, dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K,
 *                            dK = dSᵀ·Q, i.e. 2.5× the forward
 *   fwd+bwd  14·S²·D·H       3.5× the forward
 * With a causal mask the count is halved (the masked half is not useful work). Softmax,
 * exponentials and the merges are not counted. Sq ≠ Sk blocks count Sq·Sk in place of S².
 */
export const FLOP_MODEL =
  'FLOPs: forward 4·Sq·Sk·D·H (2 matmuls), backward 10·Sq·Sk·D·H (5 matmuls incl. recomputing S; 2.5× forward), fwd+bwd 14·Sq·Sk·D·H; halved when causal; softmax/exp not counted';

export interface AttentionShape {
  seqQ: number;
  seqK: number;
  heads: number;
  headDim: number;
  causal: boolean;
}

export function forwardFlops(s: AttentionShape): number {
  return 4 * s.seqQ * s.seqK * s.headDim * s.heads * (s.causal ? 0.5 : 1);
}

export function backwardFlops(s: AttentionShape): number {
  return 2.5 * forwardFlops(s);
}

export function trainFlops(s: AttentionShape): number {
  return forwardFlops(s) + backwardFlops(s);
}

/** A square self-attention problem of S tokens. */
export function selfAttention(seqLen: number, heads: number, headDim: number, causal: boolean): AttentionShape {
  return { seqQ: seqLen, seqK: seqLen, heads, headDim, causal };
}

export function gflops(flops: number, ms: number): number {
  return ms > 0 ? flops / ms / 1e6 : 0;
}
