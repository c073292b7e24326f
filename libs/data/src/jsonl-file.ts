import { dataFileError } from './errors';
import type { Document } from './document';

const LINE_FORMAT = 'one JSON object per line with a string "text" field, like {"text": "Once upon a time"}';

/**
 * JSON Lines: one document per line from its `text` field. Blank lines are skipped; any other
 * line that is not a JSON object with a string `text` is an error naming `file:line`.
 */
export function readJsonlDocuments(file: string, buf: Buffer): Document[] {
  const lines = buf.toString('utf8').split('\n');
  const docs: Document[] = [];
  let seenLine = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (!seenLine) {
        throw dataFileError(
          'DATA_BAD_JSONL',
          where,
          `is not JSON Lines: its first line is not JSON (${reason})`,
          `a .jsonl file holds ${LINE_FORMAT}; if this is plain text, rename it to .txt`,
          { line: i + 1 },
        );
      }
      throw dataFileError('DATA_BAD_JSONL', where, `line ${i + 1} is not valid JSON (${reason})`, `fix or remove the line; a .jsonl file holds ${LINE_FORMAT}`, {
        line: i + 1,
      });
    }
    seenLine = true;
    const text = isObject(value) ? value.text : undefined;
    if (typeof text !== 'string') {
      const got = isObject(value) ? `an object with keys [${Object.keys(value).join(', ')}]` : `a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`;
      throw dataFileError('DATA_BAD_JSONL', where, `line ${i + 1} has no string "text" field (it is ${got})`, `give every line a "text" string: ${LINE_FORMAT}`, {
        line: i + 1,
      });
    }
    if (text.length > 0) docs.push({ origin: where, tokens: Buffer.from(text, 'utf8') });
  }
  return docs;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
