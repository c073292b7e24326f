/**
 * A long series cut down to a bounded number of points for charts: every `stride`-th step is
 * kept (all while there are few), plus the latest; when more than `maxPoints` are kept the stride
 * doubles and every other kept point goes. Memory and chart size stay bounded over any run
 * length, at O(1) amortized per step. The server and the page use the same rule, so live points
 * a page appends agree with a fresh snapshot.
 *
 * A step not above the last one is a rollback (a restart from a checkpoint writes those steps
 * again): the points from that step on are dropped and the later record wins.
 */
export class Decimated<T extends { step: number }> {
  private kept: T[] = [];
  private latest: T | null = null;
  private strideNow: number;
  private count = 0;

  constructor(
    readonly maxPoints = 5000,
    stride = 1,
  ) {
    if (!(maxPoints >= 2)) throw new Error(`maxPoints must be at least 2, got ${maxPoints}`);
    this.strideNow = stride;
  }

  get stride(): number {
    return this.strideNow;
  }

  /** Rows pushed since the start (rollbacks not subtracted). */
  get total(): number {
    return this.count;
  }

  get last(): T | null {
    return this.latest;
  }

  /** Adds the next row; true when it rolled the series back (points were dropped). */
  push(row: T): boolean {
    this.count++;
    let rolledBack = false;
    if (this.latest !== null && row.step <= this.latest.step) {
      rolledBack = true;
      while (this.kept.length > 0 && this.kept[this.kept.length - 1].step >= row.step) this.kept.pop();
    }
    this.latest = row;
    if (row.step % this.strideNow === 0) {
      this.kept.push(row);
      if (this.kept.length > this.maxPoints) {
        this.strideNow *= 2;
        this.kept = this.kept.filter((r) => r.step % this.strideNow === 0);
      }
    }
    return rolledBack;
  }

  /** The points to draw, in step order: the kept ones and the latest. */
  rows(): T[] {
    const l = this.latest;
    if (l === null) return [];
    const k = this.kept;
    return k.length > 0 && k[k.length - 1] === l ? k.slice() : [...k, l];
  }
}
