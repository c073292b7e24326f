import { dataFileError } from './errors';
import type { Document } from './document';
import { VOCAB_SIZE } from './tokenizer';

/** llm.c writes a 256 × int32 header starting with this magic; nanoGPT's .bin has no header. */
const LLMC_MAGIC = 20240520;

/**
 * A nanoGPT-style .bin (raw little-endian uint16 token ids, no header) as one document. The ids
 * are a view over the file's bytes; every id is checked against the vocabulary once.
 */
export function readBinDocument(file: string, buf: Buffer): Document {
  if (buf.length % 2 !== 0) {
    throw dataFileError(
      'DATA_BAD_BIN',
      file,
      `is not a uint16 token file: its size ${buf.length} bytes is odd`,
      'a .bin holds little-endian uint16 token ids (numpy: np.array(ids, dtype=np.uint16).tofile(path)); if it is text, rename it to .txt',
      { bytes: buf.length },
    );
  }
  const ids = uint16View(buf);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= VOCAB_SIZE) {
      const llmc = buf.length >= 4 && buf.readInt32LE(0) === LLMC_MAGIC ? ' It starts with the llm.c header magic: llm.c files are not supported.' : '';
      throw dataFileError(
        'DATA_BAD_BIN',
        file,
        `token ${i} (byte offset ${2 * i}) is id ${ids[i]}, but the vocabulary has ${VOCAB_SIZE} ids (0..${VOCAB_SIZE - 1})`,
        `tokenize the data with the byte-level tokenizer (ids 0..255 are bytes, 256 = <|sep|>, 257 = <|pad|>); ids from another tokenizer (e.g. GPT-2) do not fit.${llmc}`,
        { index: i, id: ids[i], vocabSize: VOCAB_SIZE },
      );
    }
  }
  return { origin: file, tokens: ids };
}

/** uint16 view over the buffer: zero-copy when aligned on a little-endian host, one bulk copy otherwise. */
function uint16View(buf: Buffer): Uint16Array {
  const n = buf.length / 2;
  if (!HOST_LITTLE_ENDIAN) {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readUInt16LE(2 * i);
    return out;
  }
  if (buf.byteOffset % 2 === 0) return new Uint16Array(buf.buffer, buf.byteOffset, n);
  return new Uint16Array(Uint8Array.prototype.slice.call(buf).buffer);
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
