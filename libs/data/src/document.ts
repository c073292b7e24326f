/**
 * A document is a run of token ids from one place in the data. Arrays are views over the bytes
 * read from disk where possible (a text file's bytes are already its byte-level tokens; a .bin
 * file is viewed as uint16), so loading copies nothing per token.
 */
export type TokenArray = Uint8Array | Uint16Array | Int32Array;

export interface Document {
  /** Where it came from, for messages: `path`, or `path:line` for JSONL. */
  readonly origin: string;
  readonly tokens: TokenArray;
}

/** Where warnings go (a winston logger fits). */
export interface DataWarnings {
  warn(message: string): unknown;
}
