import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { BlockDims } from '../block-dims';
import { keyTileRows, ROWS_PER_WORKGROUP, workgroupsFor } from './tiles';
import { commonConstants, commonKey, cooperativeCopy, FLASH_UNIFORMS, POS_OFFSETS, SEES_NO_KEY_FN, visibleExpr, type MaskTests } from './wgsl';

/**
 * dQ of one block: one workgroup per (query head, ROWS query rows), one invocation per query
 * row, looping over tiles of K and V rows staged in workgroup memory as in the forward:
 *
 *   p  = exp(scale·q·k − lse)         (0 where the query cannot see the key or lse is −inf)
 *   dq += p · (dO·v − rowDot) · scale · k
 *
 * Inputs as FlashKvGradProgram's. Output: dq [H, Sq, D]. `masked` and `docs` as in
 * FlashForwardProgram.
 */
export class FlashQGradProgram implements WebGPUProgram {
  readonly variableNames = ['Q', 'K', 'V', 'Dout', 'Stats', 'Pos'];
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
    this.outputShape = [d.heads, d.seqQ, d.headDim];
    this.dispatch = [workgroupsFor(d.seqQ), d.heads, 1];
    this.shaderKey = `flashQGrad_${commonKey(d, this.mask)}_TK${this.keyTile}`;
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
${SEES_NO_KEY_FN}

fn main() {
  let head = i32(workgroupId.y);
  let row = i32(workgroupId.x) * ROWS + i32(localIndex);
  let seqQ = uniforms.seqQ;
  let seqK = uniforms.seqK;
  let scale = uniforms.scale;
  let inRange = row < seqQ;
  let kvBase = (head / GROUP) * seqK * HEAD_DIM;

  var q : array<f32, HEAD_DIM>;
  var dout : array<f32, HEAD_DIM>;
  var dq : array<f32, HEAD_DIM>;
  var lse = 0.0;
  var rowDot = 0.0;
  var posQ = 0;
  ${docs ? 'var docQ = 0;' : ''}
  var live = false;
  if (inRange) {
    let rowIndex = head * seqQ + row;
    for (var c = 0; c < HEAD_DIM; c++) {
      q[c] = Q[rowIndex * HEAD_DIM + c];
      dout[c] = Dout[rowIndex * HEAD_DIM + c];
    }
    lse = Stats[2 * rowIndex];
    rowDot = Stats[2 * rowIndex + 1];
    posQ = Pos[${POS_OFFSETS.posQ} + row];
    ${docs ? `docQ = Pos[${POS_OFFSETS.docQ} + row];` : ''}
    live = !seesNoKey(lse);
  }

  for (var start = 0; start < seqK; start += KEY_TILE) {
    let count = min(KEY_TILE, seqK - start);
    ${cooperativeCopy('tileK', 'K', 'kvBase + start * HEAD_DIM', 'count * HEAD_DIM')}
    ${cooperativeCopy('tileV', 'V', 'kvBase + start * HEAD_DIM', 'count * HEAD_DIM')}
    ${cooperativeCopy('tilePosK', 'Pos', `${POS_OFFSETS.posK} + start`, 'count')}
    ${docs ? cooperativeCopy('tileDocK', 'Pos', `${POS_OFFSETS.docK} + start`, 'count') : ''}
    workgroupBarrier();

    if (live) {
      for (var j = 0; j < count; j++) {
        if (!(${visible})) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var c = 0; c < HEAD_DIM; c++) {
          s += q[c] * tileK[j * HEAD_DIM + c];
          dp += dout[c] * tileV[j * HEAD_DIM + c];
        }
        let p = exp(s * scale - lse);
        let ds = p * (dp - rowDot) * scale;
        for (var c = 0; c < HEAD_DIM; c++) { dq[c] += ds * tileK[j * HEAD_DIM + c]; }
      }
    }
    workgroupBarrier();
  }

  if (inRange) {
    let outBase = (head * seqQ + row) * HEAD_DIM;
    for (var c = 0; c < HEAD_DIM; c++) { result[outBase + c] = dq[c]; }
  }
}
`;
  }
}
