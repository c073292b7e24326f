import type { PeerMessage, Transport, TransportStats } from '@ringtrain/transport';

/**
 * One parallel axis of the world seen as a world of its own (a sub-communicator): rank i of the
 * axis is the world's rank `ranks[i]`. The mesh already links every pair of ranks, so an axis is
 * only a rank list and a tag namespace: every tag gets the suffix `@<axis>`, so transfers of two
 * axes between the same pair of ranks could never mix even under the same tag. The collectives
 * (`allToAll`, `RingComm`) run on it unchanged; `peerRank` gives the world's rank for traces.
 */
export class AxisTransport implements Transport {
  readonly rank: number;
  readonly worldSize: number;

  constructor(
    private readonly world: Transport,
    /** The world's ranks on this axis, in axis order; the world's own rank must be among them. */
    readonly ranks: readonly number[],
    /** Names the axis in tags (e.g. `uly`, `ring`). */
    readonly axis: string,
  ) {
    this.rank = ranks.indexOf(world.rank);
    if (this.rank < 0 || new Set(ranks).size !== ranks.length || ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= world.worldSize)) {
      throw new Error(`axis "${axis}" [${ranks.join(', ')}] is not a set of ranks of a world of ${world.worldSize} holding rank ${world.rank}`);
    }
    this.worldSize = ranks.length;
  }

  send(to: number, msg: PeerMessage): Promise<void> {
    return this.world.send(this.worldRank(to), { ...msg, tag: this.tag(msg.tag) });
  }

  recv(from: number, tag: string): Promise<PeerMessage> {
    return this.world.recv(this.worldRank(from), this.tag(tag));
  }

  /** The world's counters: an axis has no wire of its own. */
  stats(): TransportStats {
    return this.world.stats();
  }

  /** The world's transport outlives its axes: closing an axis closes nothing. */
  async close(): Promise<void> {}

  /** The world's rank of axis rank i. */
  worldRank(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.ranks.length) throw new Error(`axis "${this.axis}" has no rank ${i} (size ${this.ranks.length})`);
    return this.ranks[i];
  }

  private tag(tag: string): string {
    return `${tag}@${this.axis}`;
  }
}

/** The world's rank of a transport's rank i (itself unless the transport is an axis): what traces name. */
export function peerRank(transport: Transport, i: number): number {
  return transport instanceof AxisTransport ? transport.worldRank(i) : i;
}
