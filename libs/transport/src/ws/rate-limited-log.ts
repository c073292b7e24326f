export interface RateLimitedLogOptions {
  /** Lines written one by one per window; later events of the window are only counted. */
  limit: number;
  windowMs: number;
  write: (line: string) => void;
  /** The one line that stands for the `count` events not written, `elapsedMs` into their window. */
  summary: (count: number, elapsedMs: number) => string;
}

/**
 * Writes events that outsiders can cause (refused connection attempts) at a bounded rate: the
 * first `limit` of each window in full, the rest as one summary line when the window ends, so
 * nobody who can reach a port can fill the log while every event is still counted.
 *
 * A window opens with the first event after the previous one ended and closes on a timer that
 * does not keep the process alive; flush() closes it early (e.g. when the server closes).
 */
export class RateLimitedLog {
  private events = 0;
  private written = 0;
  private suppressed = 0;
  private windowStart = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RateLimitedLogOptions) {}

  /** Every event noted so far, written or not. */
  get total(): number {
    return this.events;
  }

  /** Notes one event; `line` is built only when it is written. */
  note(line: () => string): void {
    this.events++;
    if (!this.timer) this.openWindow();
    if (this.written < this.opts.limit) {
      this.written++;
      this.opts.write(line());
    } else {
      this.suppressed++;
    }
  }

  /** Ends the current window now, writing its summary if events went unwritten. */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.endWindow();
  }

  private openWindow(): void {
    this.windowStart = Date.now();
    this.written = this.suppressed = 0;
    this.timer = setTimeout(() => this.endWindow(), this.opts.windowMs);
    this.timer.unref();
  }

  private endWindow(): void {
    this.timer = null;
    if (this.suppressed > 0) this.opts.write(this.opts.summary(this.suppressed, Date.now() - this.windowStart));
    this.suppressed = 0;
  }
}
