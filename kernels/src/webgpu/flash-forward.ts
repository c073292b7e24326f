import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { BlockDims } from '../block-dims';
import { keyTileRows, ROWS_PER_WORKGROUP, workgroupsFor } from './tiles';
import { commonConstants, commonKey, cooperativeCopy, FLASH_UNIFORMS, POS_OFFSETS, visibleExpr, type MaskTests } from './wgsl';

/**
 * Fused attention forward: one workgroup per (query head, ROWS query rows), one invocation per
 * query row. The workgroup stages a tile of K and V rows (and the keys' positions) in workgroup
 * memory; each invocation folds the tile into its row with the online softmax (running max,
 * running sum, an accumulator of D floats), so the [Sq, Sk] score matrix never exists.
 *
 * Inputs: Q [H,Sq,D], K and V [Hkv,Sk,D], Pos = posQ ++ posK, then with `docs` ++ docQ ++ docK
 * (int32 [Sq+Sk] or [2(Sq+Sk)]; one buffer, since WebGPU guarantees only 8 storage buffers per
 * shader). Output: [H, Sq, D+1], each row's normalised output followed by its lse (a program has
 * a single output).
 *
 * `masked` compiles the causal test in, `docs` the document test (the keys' document ids are
 * staged beside their positions); blocks that are fully visible skip both.
 */
export class FlashForwardProgram implements WebGPUProgram {
  readonly variableNames = ['Q', 'K', 'V', 'Pos'];
  readonly uniforms = FLASH_UNIFORMS;
  readonly workgroupSize: [number, number, number] = [ROWS_PER_WORKGROUP, 1, 1];
  /** x runs over query rows (axis 1), y over heads (axis 0). */
  readonly dispatchLayout = { x: [1], y: [0] };
  readonly outputShape: number[];
  dispatch: [number, number, number];
  shaderKey: string;
  private readonly keyTile: number;
  private readonly mask: MaskTests;

  constructor(
    private readonly d: BlockDims,
    masked: boolean,
    docs = false,
  ) {
    this.mask = { masked, docs };
    this.keyTile = keyTileRows(d.headDim, docs);
    this.outputShape = [d.heads, d.seqQ, d.headDim + 1];
    this.dispatch = [workgroupsFor(d.seqQ), d.heads, 1];
    this.shaderKey = `flashForward_${commonKey(d, this.mask)}_TK${this.keyTile}`;
  }

  getUserCode(): string {
    const tile = this.keyTile;
    const width = tile * this.d.headDim;
    const docs = this.mask.docs;
    const visible = visibleExpr(this.mask, { posQ: 'posQ', posK: 'tilePosK[j]', docQ: 'docQ', docK: 'tileDocK[j]' });
    return `
${commonConstants(this.d)}
const KEY_TILE : i32 = ${tile};

var<workgroup> tileK : array<f32, ${width}>;
var<workgroup> tileV : array<f32, ${width}>;
var<workgroup> tilePosK : array<i32, ${tile}>;
${docs ? `var<workgroup> tileDocK : array<i32, ${tile}>;` : ''}

fn main() {
  let head = i32(workgroupId.y);
  let row = i32(workgroupId.x) * ROWS + i32(localIndex);
  let seqQ = uniforms.seqQ;
  let seqK = uniforms.seqK;
  let inRange = row < seqQ;
  let kvBase = (head / GROUP) * seqK * HEAD_DIM;

  // q is pre-scaled so each score is one dot product.
  var q : array<f32, HEAD_DIM>;
  var acc : array<f32, HEAD_DIM>;
  var score : array<f32, KEY_TILE>;
  var posQ = 0;
  ${docs ? 'var docQ = 0;' : ''}
  if (inRange) {
    let qBase = (head * seqQ + row) * HEAD_DIM;
    for (var c = 0; c < HEAD_DIM; c++) { q[c] = Q[qBase + c] * uniforms.scale; }
    posQ = Pos[${POS_OFFSETS.posQ} + row];
    ${docs ? `docQ = Pos[${POS_OFFSETS.docQ} + row];` : ''}
  }
  // runMax is meaningful once seen: no infinities in the arithmetic.
  var runMax = 0.0;
  var runSum = 0.0;
  var seen = false;

  for (var start = 0; start < seqK; start += KEY_TILE) {
    let count = min(KEY_TILE, seqK - start);
    ${cooperativeCopy('tileK', 'K', 'kvBase + start * HEAD_DIM', 'count * HEAD_DIM')}
    ${cooperativeCopy('tileV', 'V', 'kvBase + start * HEAD_DIM', 'count * HEAD_DIM')}
    ${cooperativeCopy('tilePosK', 'Pos', `${POS_OFFSETS.posK} + start`, 'count')}
    ${docs ? cooperativeCopy('tileDocK', 'Pos', `${POS_OFFSETS.docK} + start`, 'count') : ''}
    workgroupBarrier();

    if (inRange) {
      // Scores of the visible keys and their max, then one rescale per tile, not per key.
      var tileMax = 0.0;
      var tileSeen = false;
      for (var j = 0; j < count; j++) {
        if (${visible}) {
          var s = 0.0;
          for (var c = 0; c < HEAD_DIM; c++) { s += q[c] * tileK[j * HEAD_DIM + c]; }
          score[j] = s;
          tileMax = select(s, max(tileMax, s), tileSeen);
          tileSeen = true;
        }
      }
      if (tileSeen) {
        let newMax = select(tileMax, max(runMax, tileMax), seen);
        let shrink = select(0.0, exp(runMax - newMax), seen);
        runSum *= shrink;
        for (var c = 0; c < HEAD_DIM; c++) { acc[c] *= shrink; }
        for (var j = 0; j < count; j++) {
          if (${visible}) {
            let p = exp(score[j] - newMax);
            runSum += p;
            for (var c = 0; c < HEAD_DIM; c++) { acc[c] += p * tileV[j * HEAD_DIM + c]; }
          }
        }
        runMax = newMax;
        seen = true;
      }
    }
    // Nobody overwrites the tile while another invocation still reads it.
    workgroupBarrier();
  }

  if (inRange) {
    let outBase = (head * seqQ + row) * (HEAD_DIM + 1);
    // A row that saw no key: out 0 (acc stayed 0), lse -inf.
    let inv = select(0.0, 1.0 / runSum, seen);
    for (var c = 0; c < HEAD_DIM; c++) { result[outBase + c] = acc[c] * inv; }
    result[outBase + HEAD_DIM] = select(-uniforms.INFINITY, runMax + log(runSum), seen);
  }
}
`;
  }
}
