import { open, stat } from 'node:fs/promises';

/** What a tail hands its reader, in file order. */
export interface TailSink {
  /** The file was replaced, shrank or went away: everything read from it before is void. */
  reset(): void;
  /** One complete line that parsed as JSON; `offset` and `bytes` locate it in the file. */
  line(value: unknown, offset: number, bytes: number): void;
  /** A complete line that is not JSON (or longer than maxLineBytes), skipped. */
  skipped(offset: number, why: string): void;
}

export interface JsonlTailOptions {
  /** Longest line read; a longer one is skipped. Default 256 MiB (a trace line of many ranks). */
  maxLineBytes?: number;
  /** Bytes read per system call. Default 4 MiB. */
  chunkBytes?: number;
}

const NEWLINE = 0x0a;
/** Lines up to this size that do not parse are searched for a whole object after a torn one. */
const RECOVER_BELOW_BYTES = 1 << 20;

/**
 * Follows a file of JSON lines that another process appends to. Each read() hands on the
 * complete lines that arrived since the last: a last line without its newline (being written,
 * or torn when a run was killed mid-write) stays unread until it is complete, so a reader never
 * sees half a record and never fails on one. A file that shrinks or is replaced (another inode)
 * starts over with reset(). Memory stays bounded by one chunk plus the longest line.
 *
 * A torn line followed by a run's next record (`{"step":5,"lo{"step":5,...}`: a restart appends
 * after the fragment) is read as that whole record.
 */
export class JsonlTail {
  private offset = 0;
  private ino: number | null = null;
  /** Inside a line longer than maxLineBytes: bytes are dropped until its newline. */
  private skipping = false;
  private readonly maxLineBytes: number;
  private readonly chunkBytes: number;

  constructor(
    readonly file: string,
    opts: JsonlTailOptions = {},
  ) {
    this.maxLineBytes = opts.maxLineBytes ?? 256 * 1024 * 1024;
    this.chunkBytes = opts.chunkBytes ?? 4 * 1024 * 1024;
  }

  /** Bytes of complete lines consumed so far. */
  get position(): number {
    return this.offset;
  }

  /** Reads what was appended since the last call; a missing file is an empty one. */
  async read(sink: TailSink): Promise<void> {
    let st;
    try {
      st = await stat(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (this.ino !== null || this.offset > 0) this.startOver(sink);
      this.ino = null;
      return;
    }
    if ((this.ino !== null && st.ino !== this.ino) || st.size < this.offset) this.startOver(sink);
    this.ino = st.ino;
    if (st.size === this.offset) return;
    const fh = await open(this.file, 'r');
    try {
      let carry: Buffer | null = null;
      let carryAt = this.offset;
      let pos = this.offset;
      while (pos < st.size) {
        // Growing with a long line in progress keeps its copying linear in its length.
        const want = Math.min(Math.max(this.chunkBytes, carry?.length ?? 0), st.size - pos);
        const chunk = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(chunk, 0, want, pos);
        if (bytesRead === 0) break; // truncated under us: the next read() sees the smaller size
        pos += bytesRead;
        let buf: Buffer = carry === null ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
        let at = carryAt;
        carry = null;
        let nl = buf.indexOf(NEWLINE);
        if (this.skipping) {
          if (nl < 0) {
            this.offset = at + buf.length;
            carryAt = this.offset;
            continue;
          }
          this.skipping = false;
          buf = buf.subarray(nl + 1);
          at += nl + 1;
          this.offset = at;
          nl = buf.indexOf(NEWLINE);
        }
        let start = 0;
        while (nl >= 0) {
          this.emit(buf.subarray(start, nl), at + start, sink);
          start = nl + 1;
          this.offset = at + start;
          nl = buf.indexOf(NEWLINE, start);
        }
        const rest = buf.subarray(start);
        if (rest.length > this.maxLineBytes) {
          sink.skipped(at + start, `a line longer than ${this.maxLineBytes} bytes`);
          this.skipping = true;
          this.offset = at + buf.length;
          carryAt = this.offset;
        } else if (rest.length > 0) {
          carry = Buffer.from(rest); // copied: `buf` may be a view of a chunk reused below
          carryAt = at + start;
        } else {
          carryAt = this.offset;
        }
      }
      // `carry` is an incomplete last line: left for a later read, once its newline is there.
    } finally {
      await fh.close();
    }
  }

  private startOver(sink: TailSink): void {
    this.offset = 0;
    this.skipping = false;
    sink.reset();
  }

  private emit(bytes: Buffer, offset: number, sink: TailSink): void {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--; // CRLF
    const text = bytes.toString('utf8', 0, end);
    if (text.trim() === '') return;
    try {
      sink.line(JSON.parse(text), offset, bytes.length + 1);
      return;
    } catch {
      // torn, or not JSON: look for a whole object after a fragment below
    }
    if (text.length < RECOVER_BELOW_BYTES) {
      for (let i = text.indexOf('{', 1); i > 0; i = text.indexOf('{', i + 1)) {
        try {
          const value: unknown = JSON.parse(text.slice(i));
          const skippedBytes = Buffer.byteLength(text.slice(0, i));
          sink.skipped(offset, `a torn line (${skippedBytes} bytes) before a whole record`);
          sink.line(value, offset + skippedBytes, bytes.length + 1 - skippedBytes);
          return;
        } catch {
          // not here
        }
      }
    }
    sink.skipped(offset, 'a line that is not JSON');
  }
}
