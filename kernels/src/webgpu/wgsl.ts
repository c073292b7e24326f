import type { BlockDims } from '../block-dims';
import { ROWS_PER_WORKGROUP } from './tiles';

/**
 * WGSL pieces the three flash programs share. The backend's generated prelude gives each shader
 * `localIndex`/`workgroupId`, one storage array per input (named as in variableNames), the
 * output array `result`, and a `uniforms` struct that ends with the fields named in `uniforms`
 * below. WGSL has no infinity literal, so -inf is written from `uniforms.INFINITY`.
 */

/** The per-call values every flash program reads (lengths change per block, not the shader). */
export const FLASH_UNIFORMS = 'seqQ : i32, seqK : i32, scale : f32,';

export type ProgramUniforms = Array<{ type: 'int32' | 'float32'; data: number[] }>;

/** Values for FLASH_UNIFORMS, in its order. */
export function flashUniforms(d: BlockDims, scale: number): ProgramUniforms {
  return [
    { type: 'int32', data: [d.seqQ] },
    { type: 'int32', data: [d.seqK] },
    { type: 'float32', data: [scale] },
  ];
}

/**
 * The per-pair tests a program compiles in: `masked` the causal test (posK <= posQ), `docs` the
 * document test (docK == docQ). Blocks that need neither compile neither.
 */
export interface MaskTests {
  masked: boolean;
  docs: boolean;
}

/** Compile-time constants shared by the programs; the shader key must name each of them. */
export function commonConstants(d: BlockDims): string {
  return `
const HEAD_DIM : i32 = ${d.headDim};
const ROWS : i32 = ${ROWS_PER_WORKGROUP};
const GROUP : i32 = ${d.group};
`;
}

/** The part of a shader key every flash program shares (it names each compiled-in test). */
export function commonKey(d: BlockDims, m: MaskTests): string {
  return `D${d.headDim}_R${ROWS_PER_WORKGROUP}_G${d.group}_${m.masked ? 'masked' : 'unmasked'}${m.docs ? '_docs' : ''}`;
}

/**
 * A WGSL bool expression: whether the query (position posQ, document docQ) sees the key, with
 * only the tests `m` compiles in ('true' when none).
 */
export function visibleExpr(m: MaskTests, v: { posQ: string; posK: string; docQ: string; docK: string }): string {
  const tests: string[] = [];
  if (m.masked) tests.push(`(${v.posK} <= ${v.posQ})`);
  if (m.docs) tests.push(`(${v.docK} == ${v.docQ})`);
  return tests.length > 0 ? tests.join(' && ') : 'true';
}

/**
 * Where the Pos buffer holds each array: posQ [Sq], posK [Sk], then with documents docQ [Sq] and
 * docK [Sk] (one int32 buffer: WebGPU guarantees only 8 storage buffers per shader). WGSL offset
 * expressions in the uniforms' lengths.
 */
export const POS_OFFSETS = { posQ: '0', posK: 'seqQ', docQ: '(seqQ + seqK)', docK: '(2 * seqQ + seqK)' } as const;

/**
 * The whole workgroup copies `count` elements from `src[from…]` to `dst[0…]`, each invocation
 * taking every ROWS-th one (so neighbouring invocations read neighbouring addresses).
 */
export function cooperativeCopy(dst: string, src: string, from: string, count: string): string {
  return `for (var i = i32(localIndex); i < ${count}; i += ROWS) { ${dst}[i] = ${src}[${from} + i]; }`;
}

/**
 * A row whose global lse is ±inf (or NaN) saw no key in any block: its probabilities are 0.
 * Tested on the exponent bits, so no compiler assumption about infinities can fold it away.
 */
export const SEES_NO_KEY_FN = `
fn seesNoKey(lse : f32) -> bool {
  return (bitcast<u32>(lse) & 0x7f800000u) == 0x7f800000u;
}
`;
