import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlTail, type TailSink } from './jsonl-tail';

function collector() {
  const got = { lines: [] as unknown[], offsets: [] as Array<[number, number]>, resets: 0, skipped: [] as string[] };
  const sink: TailSink = {
    reset: () => {
      got.resets++;
    },
    line: (v, offset, bytes) => {
      got.lines.push(v);
      got.offsets.push([offset, bytes]);
    },
    skipped: (_o, why) => {
      got.skipped.push(why);
    },
  };
  return { got, sink };
}

const dir = () => mkdtempSync(join(tmpdir(), 'ringtrain-tail-'));

describe('JsonlTail', () => {
  it('reads complete lines as they are appended, and a missing file as empty', async () => {
    const file = join(dir(), 'm.jsonl');
    const tail = new JsonlTail(file);
    const { got, sink } = collector();
    await tail.read(sink); // no file yet
    expect(got.lines).toEqual([]);
    writeFileSync(file, '{"step":1}\n{"step":2}\n');
    await tail.read(sink);
    appendFileSync(file, '{"step":3}\n');
    await tail.read(sink);
    await tail.read(sink); // nothing new
    expect(got.lines).toEqual([{ step: 1 }, { step: 2 }, { step: 3 }]);
    expect(got.offsets).toEqual([[0, 11], [11, 11], [22, 11]]);
    expect(got.resets).toBe(0);
  });

  it('leaves a truncated last line (a run killed mid-write) until it is complete, and never fails on it', async () => {
    const file = join(dir(), 'm.jsonl');
    writeFileSync(file, '{"step":1,"loss":2}\n{"step":2,"lo');
    const tail = new JsonlTail(file);
    const { got, sink } = collector();
    await tail.read(sink);
    await tail.read(sink);
    expect(got.lines).toEqual([{ step: 1, loss: 2 }]);
    expect(got.skipped).toEqual([]);
    appendFileSync(file, 'ss":1.5}\n');
    await tail.read(sink);
    expect(got.lines).toEqual([{ step: 1, loss: 2 }, { step: 2, loss: 1.5 }]);
  });

  it('reads the whole record a restart appended after a torn line', async () => {
    const file = join(dir(), 'm.jsonl');
    writeFileSync(file, '{"step":1}\n{"step":2,"lo{"step":2,"loss":{"a":1}}\n{"step":3}\n');
    const { got, sink } = collector();
    await new JsonlTail(file).read(sink);
    expect(got.lines).toEqual([{ step: 1 }, { step: 2, loss: { a: 1 } }, { step: 3 }]);
    expect(got.skipped).toEqual([expect.stringMatching(/torn line \(13 bytes\)/)]);
    expect(got.offsets[1]).toEqual([11 + 13, '{"step":2,"loss":{"a":1}}\n'.length]);
  });

  it('skips a line that is not JSON, and CRLF endings are read', async () => {
    const file = join(dir(), 'm.jsonl');
    writeFileSync(file, 'not json\r\n{"step":1}\r\n\n');
    const { got, sink } = collector();
    await new JsonlTail(file).read(sink);
    expect(got.lines).toEqual([{ step: 1 }]);
    expect(got.skipped).toEqual(['a line that is not JSON']);
  });

  it('starts over when the file shrinks, is replaced or removed', async () => {
    const d = dir();
    const file = join(d, 'm.jsonl');
    writeFileSync(file, '{"step":1}\n{"step":2}\n');
    const tail = new JsonlTail(file);
    const { got, sink } = collector();
    await tail.read(sink);
    truncateSync(file, 0);
    appendFileSync(file, '{"step":9}\n');
    await tail.read(sink);
    expect(got.resets).toBe(1);
    writeFileSync(join(d, 'other'), '{"step":10}\n{"step":11}\n{"step":12}\n');
    renameSync(join(d, 'other'), file);
    await tail.read(sink);
    expect(got.resets).toBe(2);
    rmSync(file);
    await tail.read(sink);
    expect(got.resets).toBe(3);
    expect(got.lines).toEqual([{ step: 1 }, { step: 2 }, { step: 9 }, { step: 10 }, { step: 11 }, { step: 12 }]);
  });

  it('reads lines longer than a chunk, and skips one longer than maxLineBytes', async () => {
    const file = join(dir(), 'm.jsonl');
    const long = JSON.stringify({ step: 1, pad: 'x'.repeat(5000) });
    const tooLong = JSON.stringify({ step: 2, pad: 'y'.repeat(20000) });
    writeFileSync(file, `${long}\n${tooLong}\n{"step":3}\n{"step":4,"é":"ü"}\n`);
    const { got, sink } = collector();
    await new JsonlTail(file, { chunkBytes: 1000, maxLineBytes: 10000 }).read(sink);
    expect(got.lines.map((l) => (l as { step: number }).step)).toEqual([1, 3, 4]);
    expect(got.lines[2]).toEqual({ step: 4, é: 'ü' });
    expect(got.skipped).toEqual(['a line longer than 10000 bytes']);
  });

  it('follows a long line written in pieces across reads', async () => {
    const file = join(dir(), 'm.jsonl');
    const line = JSON.stringify({ step: 7, pad: 'z'.repeat(3000) });
    const tail = new JsonlTail(file, { chunkBytes: 256 });
    const { got, sink } = collector();
    for (let i = 0; i < line.length; i += 700) {
      appendFileSync(file, line.slice(i, i + 700));
      await tail.read(sink);
    }
    expect(got.lines).toEqual([]);
    appendFileSync(file, '\n');
    await tail.read(sink);
    expect(got.lines).toEqual([JSON.parse(line)]);
    expect(tail.position).toBe(line.length + 1);
  });
});
