import { RingtrainError } from '@ringtrain/core';

/**
 * A layout maps global positions to (rank, local index). Every shard lists its tokens in
 * increasing global position; positions travel with K/V blocks, so masking never depends on
 * the layout itself.
 */
export type LayoutName = 'contiguous' | 'striped' | 'zigzag';
export const LAYOUT_NAMES: readonly LayoutName[] = ['contiguous', 'striped', 'zigzag'];

export interface Layout {
  readonly name: LayoutName;
  readonly seqLen: number;
  readonly worldSize: number;
  /**
   * Ranks per group (a hybrid's Ulysses degree U; 1 otherwise): the layout is `name` over the
   * worldSize/groupSize groups, and group g's positions are split in groupSize consecutive runs
   * among ranks g·U … g·U+U−1.
   */
  readonly groupSize: number;
  /** Global positions owned by `rank`, increasing. Uneven sizes when seqLen does not divide. */
  positions(rank: number): Int32Array;
  shardSize(rank: number): number;
}

/** Sizes of n nearly equal parts of total: the first (total % n) parts get one more. */
export function evenSplit(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

function range(start: number, length: number): number[] {
  return Array.from({ length }, (_, i) => start + i);
}

function contiguousPositions(seqLen: number, worldSize: number): Int32Array[] {
  const sizes = evenSplit(seqLen, worldSize);
  let start = 0;
  return sizes.map((n) => {
    const p = Int32Array.from(range(start, n));
    start += n;
    return p;
  });
}

function stripedPositions(seqLen: number, worldSize: number): Int32Array[] {
  return Array.from({ length: worldSize }, (_, r) => {
    const out: number[] = [];
    for (let p = r; p < seqLen; p += worldSize) out.push(p);
    return Int32Array.from(out);
  });
}

/** 2P chunks; rank r owns chunk r and chunk 2P-1-r, which pairs early (cheap) with late (costly) causal rows. */
function zigzagPositions(seqLen: number, worldSize: number): Int32Array[] {
  const sizes = evenSplit(seqLen, 2 * worldSize);
  const starts: number[] = [];
  let s = 0;
  for (const n of sizes) {
    starts.push(s);
    s += n;
  }
  return Array.from({ length: worldSize }, (_, r) => {
    const a = r;
    const b = 2 * worldSize - 1 - r;
    return Int32Array.from([...range(starts[a], sizes[a]), ...range(starts[b], sizes[b])]);
  });
}

const BUILDERS: Record<LayoutName, (seqLen: number, worldSize: number) => Int32Array[]> = {
  contiguous: contiguousPositions,
  striped: stripedPositions,
  zigzag: zigzagPositions,
};

/**
 * The layout `name` of seqLen positions over worldSize ranks or, with groupSize U > 1, over the
 * worldSize/U groups of U consecutive ranks (a hybrid: a ring across groups, Ulysses inside one):
 * group g owns what rank g would own under `name` over the groups, and its U ranks take
 * consecutive runs of that list (evenSplit), so rank g·U + u holds run u. Every rank's positions
 * stay increasing; groupSize 1 is the plain layout.
 */
export function makeLayout(name: LayoutName, seqLen: number, worldSize: number, groupSize = 1): Layout {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new RingtrainError('BAD_WORLD_SIZE', `world size ${worldSize} must be a positive integer`, { hint: 'use --workers 1 or more' });
  }
  if (!Number.isInteger(groupSize) || groupSize < 1 || worldSize % groupSize !== 0) {
    throw new RingtrainError('BAD_WORLD_SIZE', `groups of ${groupSize} ranks do not divide the world size ${worldSize}`, {
      hint: `use a group size that divides ${worldSize}`,
      details: { worldSize, groupSize },
    });
  }
  if (!Number.isInteger(seqLen) || seqLen < worldSize) {
    throw new RingtrainError('SEQ_TOO_SHORT', `sequence length ${seqLen} is shorter than the world size ${worldSize}: some rank would own no token`, {
      hint: `use a sequence length of at least ${worldSize}, or fewer workers`,
      details: { seqLen, worldSize },
    });
  }
  const builder = BUILDERS[name];
  if (!builder) {
    throw new RingtrainError('BAD_LAYOUT', `unknown layout "${name}"`, { hint: `use one of ${LAYOUT_NAMES.join(', ')}` });
  }
  const shards = groupSize === 1 ? builder(seqLen, worldSize) : builder(seqLen, worldSize / groupSize).flatMap((group) => splitRuns(group, groupSize));
  return Object.freeze({
    name,
    seqLen,
    worldSize,
    groupSize,
    positions: (rank: number) => shards[rank].slice(),
    shardSize: (rank: number) => shards[rank].length,
  });
}

/** A group's positions cut into `parts` consecutive runs of nearly equal size. */
function splitRuns(positions: Int32Array, parts: number): Int32Array[] {
  let start = 0;
  return evenSplit(positions.length, parts).map((n) => positions.slice(start, (start += n)));
}

/** Cuts rows (each `rowSize` floats, in global order) into the shard of `rank`. */
export function shardRows(layout: Layout, data: Float32Array, rowSize: number, rank: number): Float32Array {
  if (data.length !== layout.seqLen * rowSize) {
    throw new RingtrainError('BAD_SHAPE', `data has ${data.length} values, expected seqLen ${layout.seqLen} × ${rowSize}`);
  }
  const pos = layout.positions(rank);
  const out = new Float32Array(pos.length * rowSize);
  for (let i = 0; i < pos.length; i++) out.set(data.subarray(pos[i] * rowSize, (pos[i] + 1) * rowSize), i * rowSize);
  return out;
}

/** Puts every rank's rows back in global order: the inverse of shardRows. */
export function gatherRows(layout: Layout, shards: readonly Float32Array[], rowSize: number): Float32Array {
  if (shards.length !== layout.worldSize) {
    throw new RingtrainError('BAD_SHAPE', `got ${shards.length} shards for a world of ${layout.worldSize}`);
  }
  const out = new Float32Array(layout.seqLen * rowSize);
  for (let r = 0; r < layout.worldSize; r++) {
    const pos = layout.positions(r);
    if (shards[r].length !== pos.length * rowSize) {
      throw new RingtrainError('BAD_SHAPE', `shard of rank ${r} has ${shards[r].length} values, expected ${pos.length} × ${rowSize}`);
    }
    for (let i = 0; i < pos.length; i++) out.set(shards[r].subarray(i * rowSize, (i + 1) * rowSize), pos[i] * rowSize);
  }
  return out;
}
