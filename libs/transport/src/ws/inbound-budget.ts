/**
 * The bytes of one connection's received frames that their consumer has not taken yet
 * (maxQueuedBytes). A count of messages alone does not bound memory: four 256 MiB frames are
 * four messages. Reaching the limit tells the owner to stop reading the socket; the kernel's
 * receive window then fills and TCP throttles the sender, so nothing is dropped and no
 * legitimate connection is closed for being ahead of its consumer. Falling below the limit
 * tells the owner to read again.
 *
 * The check comes after a frame is counted (its size is known only once it has arrived), so
 * the queue can hold up to the limit plus one frame.
 */
export class InboundBudget {
  private queued = 0;
  private peak = 0;
  private pauses = 0;
  private full = false;

  constructor(
    readonly limitBytes: number,
    /** Called with true when the limit is reached, false once the queue is below it again. */
    private readonly onFullChange: (full: boolean) => void,
  ) {}

  get queuedBytes(): number {
    return this.queued;
  }

  get peakQueuedBytes(): number {
    return this.peak;
  }

  /** How often reading was stopped for the budget. */
  get readPauses(): number {
    return this.pauses;
  }

  get isFull(): boolean {
    return this.full;
  }

  /**
   * Counts `bytes` until the returned function is called. Calling it again does nothing, so an
   * owner may release on every path a message can leave by.
   */
  hold(bytes: number): () => void {
    this.queued += bytes;
    this.peak = Math.max(this.peak, this.queued);
    if (!this.full && this.queued >= this.limitBytes) this.setFull(true);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.queued -= bytes;
      if (this.full && this.queued < this.limitBytes) this.setFull(false);
    };
  }

  private setFull(full: boolean): void {
    this.full = full;
    if (full) this.pauses++;
    this.onFullChange(full);
  }
}
