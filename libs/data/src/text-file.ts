import { dataFileError } from './errors';
import type { Document } from './document';

/** Extensions that promise text: a NUL byte in one of these is an error, not a skip. */
export const TEXT_EXTENSIONS: readonly string[] = [
  '.txt', '.text', '.md', '.markdown', '.rst', '.adoc', '.org', '.tex', '.csv', '.tsv', '.json',
  '.yaml', '.yml', '.toml', '.xml', '.html', '.htm', '.css', '.js', '.ts', '.py', '.c', '.h',
  '.cc', '.cpp', '.hpp', '.rs', '.go', '.java', '.sh', '.log',
];

const SNIFF_BYTES = 8192;

/** Whether the start of a file looks binary: a NUL byte does not occur in text. */
export function looksBinary(buf: Buffer): boolean {
  return buf.subarray(0, SNIFF_BYTES).includes(0);
}

/**
 * A text file as one document of its UTF-8 bytes (a view, no copy; a UTF-8 BOM is dropped).
 * Throws DATA_NOT_TEXT if the file holds a NUL byte anywhere.
 */
export function readTextDocument(file: string, buf: Buffer): Document {
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    throw dataFileError(
      'DATA_NOT_TEXT',
      file,
      `is not a text file: it holds a NUL byte at offset ${nul}`,
      'remove binary files from the data, or give them the extension of what they are (.bin for uint16 token ids, .jsonl for JSON Lines)',
      { offset: nul },
    );
  }
  const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset + bom, buf.length - bom);
  return { origin: file, tokens: bytes };
}
