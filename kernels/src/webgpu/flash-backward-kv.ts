import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { BlockDims } from '../block-dims';
import { queryTileRows, ROWS_PER_WORKGROUP, workgroupsFor } from './tiles';
import { commonConstants, commonKey, cooperativeCopy, FLASH_UNIFORMS, POS_OFFSETS, SEES_NO_KEY_FN, visibleExpr, type MaskTests } from './wgsl';

/**
 * dK and dV of one block (FlashAttention-2's outer loop over keys): one workgroup per (K/V head,
 * ROWS key rows), one invocation per key row. Each invocation keeps its k and v rows and its dk,
 * dv accumulators private and walks the G query heads of its group, tile by tile of queries
 * staged in workgroup memory (Q, dO, lse, rowDot, positions). A key's gradient is summed by the
 * one invocation that owns it, so no atomics are needed.
 *
 *   p  = exp(scale·q·k − lse)         (0 where the query cannot see the key or lse is −inf)
 *   dv += p · dO
 *   dk += p · (dO·v − rowDot) · scale · q
 *
 * Inputs: Q [H,Sq,D], K, V [Hkv,Sk,D], Dout [H,Sq,D], Stats [H,Sq,2] (lse, rowDot), Pos (posQ ++
 * posK, then with `docs` ++ docQ ++ docK). Output: [Hkv, Sk, 2D], each key's dk row followed by
 * its dv row. `masked` and `docs` as in FlashForwardProgram (the queries' document ids are staged
 * beside their positions).
 */
export class FlashKvGradProgram implements WebGPUProgram {
  readonly variableNames = ['Q', 'K', 'V', 'Dout', 'Stats', 'Pos'];
  readonly uniforms = FLASH_UNIFORMS;
  readonly workgroupSize: [number, number, number] = [ROWS_PER_WORKGROUP, 1, 1];
  /** x runs over key rows (axis 1), y over K/V heads (axis 0). */
  readonly dispatchLayout = { x: [1], y: [0] };
  readonly outputShape: number[];
  dispatch: [number, number, number];
  shaderKey: string;
  private readonly queryTile: number;
  private readonly mask: MaskTests;

  constructor(
    private readonly d: BlockDims,
    masked: boolean,
    docs = false,
  ) {
    this.mask = { masked, docs };
    this.queryTile = queryTileRows(d.headDim, docs);
    this.outputShape = [d.kvHeads, d.seqK, 2 * d.headDim];
    this.dispatch = [workgroupsFor(d.seqK), d.kvHeads, 1];
    this.shaderKey = `flashKvGrad_${commonKey(d, this.mask)}_TQ${this.queryTile}`;
  }

  getUserCode(): string {
    const tile = this.queryTile;
    const width = tile * this.d.headDim;
    const docs = this.mask.docs;
    const visible = visibleExpr(this.mask, { posQ: 'tilePosQ[i]', posK: 'posK', docQ: 'tileDocQ[i]', docK: 'docK' });
    return `
${commonConstants(this.d)}
const QUERY_TILE : i32 = ${tile};

var<workgroup> tileQ : array<f32, ${width}>;
var<workgroup> tileDout : array<f32, ${width}>;
var<workgroup> tileLse : array<f32, ${tile}>;
var<workgroup> tileRowDot : array<f32, ${tile}>;
var<workgroup> tilePosQ : array<i32, ${tile}>;
${docs ? `var<workgroup> tileDocQ : array<i32, ${tile}>;` : ''}
${SEES_NO_KEY_FN}

fn main() {
  let kvHead = i32(workgroupId.y);
  let key = i32(workgroupId.x) * ROWS + i32(localIndex);
  let seqQ = uniforms.seqQ;
  let seqK = uniforms.seqK;
  let scale = uniforms.scale;
  let inRange = key < seqK;

  var k : array<f32, HEAD_DIM>;
  var v : array<f32, HEAD_DIM>;
  var dk : array<f32, HEAD_DIM>;
  var dv : array<f32, HEAD_DIM>;
  var posK = 0;
  ${docs ? 'var docK = 0;' : ''}
  if (inRange) {
    let kBase = (kvHead * seqK + key) * HEAD_DIM;
    for (var c = 0; c < HEAD_DIM; c++) {
      k[c] = K[kBase + c];
      v[c] = V[kBase + c];
    }
    posK = Pos[${POS_OFFSETS.posK} + key];
    ${docs ? `docK = Pos[${POS_OFFSETS.docK} + key];` : ''}
  }

  for (var g = 0; g < GROUP; g++) {
    let head = kvHead * GROUP + g;
    for (var start = 0; start < seqQ; start += QUERY_TILE) {
      let count = min(QUERY_TILE, seqQ - start);
      let rowBase = head * seqQ + start;
      ${cooperativeCopy('tileQ', 'Q', 'rowBase * HEAD_DIM', 'count * HEAD_DIM')}
      ${cooperativeCopy('tileDout', 'Dout', 'rowBase * HEAD_DIM', 'count * HEAD_DIM')}
      for (var i = i32(localIndex); i < count; i += ROWS) {
        tileLse[i] = Stats[2 * (rowBase + i)];
        tileRowDot[i] = Stats[2 * (rowBase + i) + 1];
        tilePosQ[i] = Pos[${POS_OFFSETS.posQ} + start + i];
        ${docs ? `tileDocQ[i] = Pos[${POS_OFFSETS.docQ} + start + i];` : ''}
      }
      workgroupBarrier();

      if (inRange) {
        for (var i = 0; i < count; i++) {
          let lse = tileLse[i];
          if (seesNoKey(lse) || !(${visible})) { continue; }
          var s = 0.0;
          var dp = 0.0;
          for (var c = 0; c < HEAD_DIM; c++) {
            s += tileQ[i * HEAD_DIM + c] * k[c];
            dp += tileDout[i * HEAD_DIM + c] * v[c];
          }
          let p = exp(s * scale - lse);
          let ds = p * (dp - tileRowDot[i]) * scale;
          for (var c = 0; c < HEAD_DIM; c++) {
            dv[c] += p * tileDout[i * HEAD_DIM + c];
            dk[c] += ds * tileQ[i * HEAD_DIM + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (inRange) {
    let outBase = (kvHead * seqK + key) * 2 * HEAD_DIM;
    for (var c = 0; c < HEAD_DIM; c++) {
      result[outBase + c] = dk[c];
      result[outBase + HEAD_DIM + c] = dv[c];
    }
  }
}
`;
  }
}
