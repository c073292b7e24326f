import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { createLogger } from '@ringtrain/core';
import { readBinDocument } from './bin-file';
import type { DataWarnings, Document } from './document';
import { dataFileError } from './errors';
import { readJsonlDocuments } from './jsonl-file';
import { looksBinary, readTextDocument, TEXT_EXTENSIONS } from './text-file';

/**
 * Data on disk: files or folders (walked recursively in sorted order), each file read by what
 * its extension says:
 *   .jsonl / .ndjson  one document per line, from the `text` field
 *   .bin              nanoGPT-style little-endian uint16 token ids, one document per file
 *   anything else     a text file, one document per file
 * A file that is not what its extension says is an error naming the file. In a folder, a file
 * with no text extension that turns out to be binary is skipped with a warning; named directly,
 * it is an error. Hidden entries (starting with ".") in folders are ignored.
 */
export type FileKind = 'text' | 'jsonl' | 'bin';

export function fileKind(path: string): FileKind {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.bin') return 'bin';
  return 'text';
}

export interface LoadedSource {
  readonly documents: Document[];
  /** Every file read, in order. */
  readonly files: string[];
  /** Files left out, with why. */
  readonly skipped: Array<{ path: string; reason: string }>;
}

export interface LoadSourceOptions {
  /** Where skip warnings go; a `data` logger by default. */
  warnings?: DataWarnings;
}

export function loadSource(paths: string | readonly string[], opts: LoadSourceOptions = {}): LoadedSource {
  const list = typeof paths === 'string' ? [paths] : [...paths];
  if (list.length === 0) {
    throw dataFileError('DATA_EMPTY', '(no path)', 'no data path was given', 'name one or more text, .jsonl or .bin files or folders');
  }
  const out: LoadedSource = { documents: [], files: [], skipped: [] };
  let warnings = opts.warnings;
  const warn = (path: string, reason: string) => {
    out.skipped.push({ path, reason });
    warnings ??= createLogger({ name: 'data' });
    warnings.warn(`skipping ${path}: ${reason}`);
  };
  for (const path of list) {
    if (!existsSync(path)) {
      throw dataFileError('DATA_NOT_FOUND', path, `no such file or folder (resolved to ${resolve(path)})`, 'check the data path and the working directory', {
        resolved: resolve(path),
      });
    }
    if (statSync(path).isDirectory()) {
      walk(path, new Set(), (file) => readFile(file, true, out, warn));
    } else {
      readFile(path, false, out, warn);
    }
  }
  if (out.documents.length === 0) {
    const skipped = out.skipped.length > 0 ? ` (${out.skipped.length} skipped)` : '';
    throw dataFileError('DATA_EMPTY', list.join(', '), `holds no non-empty document: ${out.files.length} files read${skipped}`, 'point the data path at text, .jsonl or .bin files that are not empty', {
      files: out.files.length,
      skipped: out.skipped.length,
    });
  }
  return out;
}

function readFile(file: string, inFolder: boolean, out: LoadedSource, warn: (path: string, reason: string) => void): void {
  const buf = readFileSync(file);
  const kind = fileKind(file);
  if (kind === 'text' && inFolder && !TEXT_EXTENSIONS.includes(extname(file).toLowerCase()) && looksBinary(buf)) {
    warn(file, 'binary content (NUL bytes) in a file without a text extension');
    return;
  }
  out.files.push(file);
  const docs = kind === 'jsonl' ? readJsonlDocuments(file, buf) : [kind === 'bin' ? readBinDocument(file, buf) : readTextDocument(file, buf)];
  for (const doc of docs) if (doc.tokens.length > 0) out.documents.push(doc);
}

/** Calls `visit` on every file under `dir`, depth first, sorted by name (locale-independent); a folder reached twice through symlinks is read once. */
function walk(dir: string, seen: Set<string>, visit: (file: string) => void): void {
  const real = realpathSync(dir);
  if (seen.has(real)) return;
  seen.add(real);
  const names = readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .sort();
  for (const name of names) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue; // a dangling symlink
    if (st.isDirectory()) walk(path, seen, visit);
    else if (st.isFile()) visit(path);
  }
}
