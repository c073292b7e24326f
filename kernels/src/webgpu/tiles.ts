import { RingtrainError } from '@ringtrain/core';
import type { BlockDims } from '../block-dims';

/**
 * Tile sizes of the flash programs. Workgroup memory is budgeted against WebGPU's guaranteed
 * minimum (16 KiB), not against what this adapter offers, so one shader text (and one shader
 * key) serves every device and a kernel tested on one adapter cannot overflow on another.
 */
export const WORKGROUP_STORAGE_BYTES = 16384;

/** Invocations per workgroup; each owns one row (a query in forward and dQ, a key in dK/dV). */
export const ROWS_PER_WORKGROUP = 64;

/** Longer tiles stop paying once a tile is as long as the workgroup that loads it. */
export const MAX_TILE_ROWS = 64;

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

const F32 = 4;

/**
 * Keys per tile in forward and dQ: each key brings a K row and a V row (D floats each) and its
 * position (one i32), and its document id with `docs`.
 */
export function keyTileRows(headDim: number, docs = false): number {
  return Math.min(MAX_TILE_ROWS, Math.floor(WORKGROUP_STORAGE_BYTES / (F32 * (2 * headDim + 1 + (docs ? 1 : 0)))));
}

/**
 * Queries per tile in dK/dV: each query brings a Q row and a dO row (D floats each), its lse,
 * its rowDot and its position, and its document id with `docs`.
 */
export function queryTileRows(headDim: number, docs = false): number {
  return Math.min(MAX_TILE_ROWS, Math.floor(WORKGROUP_STORAGE_BYTES / (F32 * (2 * headDim + 3 + (docs ? 1 : 0)))));
}

/** Workgroups along x for `rows` rows, one invocation per row. */
export function workgroupsFor(rows: number): number {
  return Math.ceil(rows / ROWS_PER_WORKGROUP);
}

/**
 * Refuses blocks the programs cannot launch: a head dim whose single row pair (with its
 * document id when `docs`) overflows workgroup memory, or a grid wider than WebGPU guarantees
 * (the backend can only fold a flat grid, and ours is two-dimensional: rows × heads).
 */
export function checkLaunchable(d: BlockDims, docs = false): void {
  const problems: string[] = [];
  if (queryTileRows(d.headDim, docs) < 1) problems.push(`headDim ${d.headDim} leaves no room for one tile row in ${WORKGROUP_STORAGE_BYTES} bytes of workgroup memory`);
  const widest = Math.max(workgroupsFor(d.seqQ), workgroupsFor(d.seqK));
  if (widest > MAX_WORKGROUPS_PER_DIMENSION) problems.push(`${widest} workgroups of ${ROWS_PER_WORKGROUP} rows exceed ${MAX_WORKGROUPS_PER_DIMENSION} per dimension`);
  if (d.heads > MAX_WORKGROUPS_PER_DIMENSION) problems.push(`${d.heads} heads exceed ${MAX_WORKGROUPS_PER_DIMENSION} workgroups per dimension`);
  if (problems.length > 0) {
    throw new RingtrainError('KERNEL_SHAPE', `webgpu flash attention: ${problems.join('; ')}`, {
      hint: 'Use a smaller head dim or shorter blocks (more ranks), or the tfjs kernel.',
      details: { ...d },
    });
  }
}
