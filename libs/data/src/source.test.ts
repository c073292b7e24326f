import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { loadSource } from './source';
import { decode, SEP_ID } from './tokenizer';

let root: string;
const warnings: string[] = [];
const quiet = { warn: (m: string) => warnings.push(m) };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ringtrain-data-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  warnings.length = 0;
});

function file(rel: string, content: string | Buffer): string {
  const path = join(root, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

function uint16le(ids: number[]): Buffer {
  const buf = Buffer.alloc(ids.length * 2);
  ids.forEach((id, i) => buf.writeUInt16LE(id, 2 * i));
  return buf;
}

/** The RingtrainError `fn` throws (fails the test if it throws nothing or something else). */
function errorOf(fn: () => unknown): RingtrainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RingtrainError);
    return e as RingtrainError;
  }
  throw new Error('expected a RingtrainError, nothing was thrown');
}

const texts = (paths: string | string[]) => loadSource(paths, { warnings: quiet }).documents.map((d) => decode(d.tokens));

describe('text sources', () => {
  it('reads a text file as one document of its bytes, dropping a UTF-8 BOM', () => {
    const path = file('one/hello.txt', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('héllo wörld\n')]));
    const { documents, files } = loadSource(path, { warnings: quiet });
    expect(files).toEqual([path]);
    expect(documents).toHaveLength(1);
    expect(documents[0].origin).toBe(path);
    expect(decode(documents[0].tokens)).toBe('héllo wörld\n');
  });

  it('walks a folder recursively in sorted order, reads every kind, skips hidden and binary files with a warning', () => {
    file('tree/b.txt', 'bee');
    file('tree/a/z.md', '# zed');
    file('tree/a/sub/deep.txt', 'deep');
    file('tree/README', 'no extension, still text');
    file('tree/.hidden.txt', 'never read');
    file('tree/.git/config', 'never read');
    file('tree/c.jsonl', '{"text": "jay one"}\n\n{"text": "jay two", "id": 7}\n');
    file('tree/d.bin', uint16le([...Buffer.from('bin'), SEP_ID, ...Buffer.from('!')]));
    file('tree/e.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    file('tree/empty.txt', '');
    symlinkSync(join(root, 'tree/a'), join(root, 'tree/loop'));

    const loaded = loadSource(join(root, 'tree'), { warnings: quiet });
    expect(loaded.documents.map((d) => decode(d.tokens))).toEqual([
      'no extension, still text', // README (uppercase sorts first)
      'deep', // a/sub/deep.txt
      '# zed', // a/z.md
      'bee',
      'jay one',
      'jay two',
      'bin<|sep|>!',
      // loop -> a was already read
    ]);
    expect(loaded.documents[4].origin).toMatch(/c\.jsonl:1$/);
    expect(loaded.documents[5].origin).toMatch(/c\.jsonl:3$/);
    expect(loaded.skipped.map((s) => s.path)).toEqual([join(root, 'tree/e.png')]);
    expect(warnings).toEqual([expect.stringContaining('e.png')]);
  });

  it('takes several paths in the order given', () => {
    const a = file('order/a.txt', 'first');
    const b = file('order/b.txt', 'second');
    expect(texts([b, a])).toEqual(['second', 'first']);
  });
});

describe('JSONL and .bin sources', () => {
  it('reads a "text" field per line, with CRLF line ends and unicode', () => {
    const path = file('j/ok.jsonl', '{"text": "línea uno"}\r\n{"text": "line\\ntwo", "meta": {"a": 1}}\r\n');
    expect(texts(path)).toEqual(['línea uno', 'line\ntwo']);
  });

  it('reads uint16 little-endian ids as a view', () => {
    const path = file('bin/ok.bin', uint16le([104, 105, 256, 257, 0]));
    const [doc] = loadSource(path, { warnings: quiet }).documents;
    expect(doc.tokens).toBeInstanceOf(Uint16Array);
    expect(Array.from(doc.tokens)).toEqual([104, 105, 256, 257, 0]);
  });
});

describe('bad data files fail with a coded error naming the file, the problem and the fix', () => {
  it('missing path', () => {
    const e = errorOf(() => loadSource(join(root, 'nope/missing.txt')));
    expect(e.code).toBe('DATA_NOT_FOUND');
    expect(e.message).toContain(join(root, 'nope/missing.txt'));
    expect(e.hint).toBeTruthy();
  });

  it('.jsonl whose first line is not JSON', () => {
    const path = file('bad/plain.jsonl', 'Once upon a time\nthere was text\n');
    const e = errorOf(() => loadSource(path));
    expect(e.code).toBe('DATA_BAD_JSONL');
    expect(e.message).toContain(`${path}:1`);
    expect(e.message).toMatch(/not JSON Lines/);
    expect(e.hint).toMatch(/rename it to \.txt/);
  });

  it('.jsonl with a broken line later on names file:line', () => {
    const path = file('bad/broken.jsonl', '{"text": "ok"}\n{"text": "ok too"}\n{"text": oops}\n');
    const e = errorOf(() => loadSource(path));
    expect(e.code).toBe('DATA_BAD_JSONL');
    expect(e.message).toContain(`${path}:3`);
    expect(e.details).toMatchObject({ line: 3 });
  });

  it.each([
    ['{"body": "no text"}', /keys \[body\]/],
    ['{"text": 42}', /keys \[text\]/],
    ['["text"]', /JSON array/],
    ['null', /JSON null/],
  ])('.jsonl line %s without a string text', (line, why) => {
    const path = file('bad/notext.jsonl', `{"text": "fine"}\n${line}\n`);
    const e = errorOf(() => loadSource(path));
    expect(e.code).toBe('DATA_BAD_JSONL');
    expect(e.message).toContain(`${path}:2`);
    expect(e.message).toMatch(why);
    expect(e.hint).toMatch(/"text"/);
  });

  it('.bin with an odd number of bytes', () => {
    const path = file('bad/odd.bin', Buffer.from([1, 0, 2]));
    const e = errorOf(() => loadSource(path));
    expect(e.code).toBe('DATA_BAD_BIN');
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/odd/);
    expect(e.hint).toMatch(/uint16/);
  });

  it('.bin with an id outside the vocabulary names the token', () => {
    const path = file('bad/gpt2.bin', uint16le([10, 20, 50256, 30]));
    const e = errorOf(() => loadSource(path));
    expect(e.code).toBe('DATA_BAD_BIN');
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/token 2 .* id 50256/);
    expect(e.details).toMatchObject({ index: 2, id: 50256, vocabSize: 258 });
  });

  it('.txt (and a named file without extension) holding NUL bytes', () => {
    const txt = file('bad/binary.txt', Buffer.from('text\0more'));
    const e = errorOf(() => loadSource(txt));
    expect(e.code).toBe('DATA_NOT_TEXT');
    expect(e.message).toContain(txt);
    expect(e.message).toMatch(/offset 4/);
    const bare = file('bad/blob', Buffer.from([0, 1, 2, 3]));
    expect(errorOf(() => loadSource(bare)).code).toBe('DATA_NOT_TEXT');
  });

  it('a .txt with NUL bytes inside a folder is an error too, not a skip', () => {
    file('badtree/ok.txt', 'fine');
    file('badtree/sub/broken.md', Buffer.from('# title\0'));
    const e = errorOf(() => loadSource(join(root, 'badtree')));
    expect(e.code).toBe('DATA_NOT_TEXT');
    expect(e.message).toContain('broken.md');
  });

  it('a folder with nothing usable', () => {
    file('hollow/empty.txt', '');
    file('hollow/pic.jpg', Buffer.from([0xff, 0xd8, 0, 0]));
    const e = errorOf(() => loadSource(join(root, 'hollow'), { warnings: quiet }));
    expect(e.code).toBe('DATA_EMPTY');
    expect(e.message).toMatch(/1 skipped/);
  });
});
