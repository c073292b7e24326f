/**
 * Byte-level tokenizer: ids 0..255 are the UTF-8 bytes, then a few special tokens. Any text
 * encodes and any id sequence decodes, so there is no out-of-vocabulary case to handle.
 *
 * Special tokens never come out of `encode`: the text "<|sep|>" encodes as its seven bytes, so
 * data can never inject a separator.
 */
export const BYTE_TOKENS = 256;
/** Document separator, placed between documents when they are packed into one stream. */
export const SEP_ID = 256;
/** Filler for input positions past the end of the data; their targets are IGNORE_TARGET. */
export const PAD_ID = 257;
export const VOCAB_SIZE = 258;
/** A target that carries no loss (padding, or a position the task does not score). */
export const IGNORE_TARGET = -1;

const SPECIAL_NAMES: Readonly<Record<number, string>> = { [SEP_ID]: '<|sep|>', [PAD_ID]: '<|pad|>' };

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** UTF-8 bytes of `text` as token ids [bytes]. Lone surrogates become U+FFFD (EF BF BD). */
export function encode(text: string): Int32Array {
  return Int32Array.from(Buffer.from(text, 'utf8'));
}

/** How one id reads: a special's name, `<|unk:ID|>` for ids outside the vocabulary, else null (a byte). */
export function specialName(id: number): string | null {
  if (Number.isInteger(id) && id >= 0 && id < BYTE_TOKENS) return null;
  return SPECIAL_NAMES[id] ?? `<|unk:${id}|>`;
}

/**
 * Text of `ids`. Runs of bytes decode as UTF-8 (invalid sequences become U+FFFD); specials and
 * out-of-range ids are written visibly. Never throws.
 */
export function decode(ids: ArrayLike<number>): string {
  const parts: string[] = [];
  const run: number[] = [];
  const flush = () => {
    if (run.length > 0) parts.push(utf8.decode(Uint8Array.from(run)));
    run.length = 0;
  };
  for (let i = 0; i < ids.length; i++) {
    const name = specialName(ids[i]);
    if (name === null) {
      run.push(ids[i]);
    } else {
      flush();
      parts.push(name);
    }
  }
  flush();
  return parts.join('');
}
