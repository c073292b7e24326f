import type { Document, TokenArray } from './document';
import { SEP_ID } from './tokenizer';

/**
 * The documents joined into one virtual stream, `doc0 <|sep|> doc1 <|sep|> … docN`, without
 * copying them: reads find their document by binary search over the start offsets.
 */
export class TokenStream {
  /** Tokens in the stream, separators included. */
  readonly length: number;
  private readonly parts: TokenArray[];
  /** starts[i] = stream offset of document i; its separator (if any) sits at starts[i] + length. */
  private readonly starts: Float64Array;

  constructor(documents: readonly Document[]) {
    this.parts = documents.map((d) => d.tokens);
    this.starts = new Float64Array(this.parts.length);
    let offset = 0;
    this.parts.forEach((p, i) => {
      this.starts[i] = offset;
      offset += p.length + 1;
    });
    this.length = Math.max(0, offset - 1);
  }

  get documentCount(): number {
    return this.parts.length;
  }

  /**
   * Copies stream[start, start + count) into out[at, …); the range must lie inside the stream.
   * With `docs`, also writes docs[at + i] = the index of the document token start + i belongs to
   * (a separator belongs to the document it ends).
   */
  read(start: number, count: number, out: Int32Array, at = 0, docs?: Int32Array): void {
    if (start < 0 || count < 0 || start + count > this.length) {
      throw new RangeError(`TokenStream.read(${start}, ${count}) outside a stream of ${this.length} tokens`);
    }
    let doc = this.documentAt(start);
    let pos = start;
    const end = start + count;
    while (pos < end) {
      const part = this.parts[doc];
      const local = pos - this.starts[doc];
      if (local < part.length) {
        const n = Math.min(part.length - local, end - pos);
        out.set(part.subarray(local, local + n), at + (pos - start));
        docs?.fill(doc, at + (pos - start), at + (pos - start) + n);
        pos += n;
      } else {
        out[at + (pos - start)] = SEP_ID;
        if (docs) docs[at + (pos - start)] = doc;
        pos += 1;
        doc += 1;
      }
    }
  }

  /** Index of the document whose span (tokens plus trailing separator) holds `pos`. */
  private documentAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
