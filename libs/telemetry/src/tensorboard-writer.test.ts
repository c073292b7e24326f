import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRingtrainError } from '@ringtrain/core';
import { RECORD_HEX } from '../testing/tfevent-vector';
import { readTfEvents } from './read-tfevents';
import { TensorBoardWriter } from './tensorboard-writer';
import { RECORD_OVERHEAD_BYTES } from './tfrecord';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'tb-'));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isRingtrainError(e) ? e.code : `not a RingtrainError: ${e}`;
  }
  return undefined;
}

/** Python with the tensorboard package, to read our files with TensorBoard's own loader. */
const tbPython = process.env.RINGTRAIN_TB_PYTHON ?? 'python3';
const hasTensorBoard = spawnSync(tbPython, ['-c', 'import tensorboard'], { stdio: 'ignore' }).status === 0;

describe('TensorBoardWriter', () => {
  it('names the file events.out.tfevents.<unix seconds>.<host> in a directory it creates', () => {
    const dir = join(tmp(), 'run', 'tb');
    const w = new TensorBoardWriter(dir, { hostname: 'node-3', wallTimeSec: 1700000123.9 });
    w.close();
    expect(readdirSync(dir)).toEqual(['events.out.tfevents.1700000123.node-3']);
    expect(w.path).toBe(join(dir, 'events.out.tfevents.1700000123.node-3'));
  });

  it('starts with the file_version event and writes one event per call', () => {
    const w = new TensorBoardWriter(tmp(), { wallTimeSec: 1700000000.25 });
    w.scalars(1, { 'train/loss': 5.25, 'train/lr': 3e-4 }, 1700000001);
    w.scalars(2, { 'train/loss': 4.75 }, 1700000002);
    w.scalars(3, {});
    w.close();
    expect(readTfEvents(w.path)).toEqual([
      { wallTime: 1700000000.25, step: 0, fileVersion: 'brain.Event:2' },
      { wallTime: 1700000001, step: 1, scalars: [{ tag: 'train/loss', value: 5.25 }, { tag: 'train/lr', value: Math.fround(3e-4) }] },
      { wallTime: 1700000002, step: 2, scalars: [{ tag: 'train/loss', value: 4.75 }] },
    ]);
  });

  it('writes the hand-encoded record byte for byte', () => {
    const w = new TensorBoardWriter(tmp(), { wallTimeSec: 1700000000 });
    const before = readFileSync(w.path).length;
    w.scalars(7, { 'train/loss': 2.5 }, 1700000000.5);
    w.close();
    expect(readFileSync(w.path).subarray(before).toString('hex')).toBe(RECORD_HEX);
  });

  it('reads a file of hand-encoded bytes, not made by the writer', () => {
    const file = join(tmp(), 'events.out.tfevents.1.h');
    writeFileSync(file, Buffer.from(RECORD_HEX, 'hex'));
    expect(readTfEvents(file)).toEqual([{ wallTime: 1700000000.5, step: 7, scalars: [{ tag: 'train/loss', value: 2.5 }] }]);
  });

  it('keeps float32 values, NaN, large steps and a zero value', () => {
    const w = new TensorBoardWriter(tmp());
    w.scalars(2 ** 40 + 1, { a: 0, b: NaN, c: 1 / 3, d: -Infinity });
    w.close();
    const [, event] = readTfEvents(w.path);
    expect(event.step).toBe(2 ** 40 + 1);
    expect(event.scalars).toEqual([
      { tag: 'a', value: 0 },
      { tag: 'b', value: NaN },
      { tag: 'c', value: Math.fround(1 / 3) },
      { tag: 'd', value: -Infinity },
    ]);
  });

  it('puts each record in the file when written, so a killed run leaves whole records', () => {
    const w = new TensorBoardWriter(tmp());
    for (let step = 1; step <= 3; step++) {
      w.scalars(step, { 'time/step_ms': step * 10 });
      // Read by another handle, without flush or close: every record so far is there and whole.
      expect(readTfEvents(w.path).map((e) => e.step)).toEqual([0, ...Array.from({ length: step }, (_, i) => i + 1)]);
    }
  });

  it('appends to an existing file and a reader refuses a torn tail', () => {
    const dir = tmp();
    const a = new TensorBoardWriter(dir, { hostname: 'h', wallTimeSec: 1700000000 });
    a.scalars(1, { x: 1 });
    a.close();
    const b = new TensorBoardWriter(dir, { hostname: 'h', wallTimeSec: 1700000000 });
    b.scalars(2, { x: 2 });
    b.close();
    expect(readTfEvents(b.path).map((e) => e.step)).toEqual([0, 1, 0, 2]);
    truncateSync(b.path, readFileSync(b.path).length - 1);
    expect(codeOf(() => readTfEvents(b.path))).toBe('TFRECORD_CORRUPT');
  });

  it('refuses bad steps, tags and values, and writes after close', () => {
    const w = new TensorBoardWriter(tmp());
    expect(codeOf(() => w.scalars(-1, { x: 1 }))).toBe('TELEMETRY_BAD_SCALAR');
    expect(codeOf(() => w.scalars(1.5, { x: 1 }))).toBe('TELEMETRY_BAD_SCALAR');
    expect(codeOf(() => w.scalars(1, { '': 1 }))).toBe('TELEMETRY_BAD_SCALAR');
    expect(codeOf(() => w.scalars(1, { x: '1' as unknown as number }))).toBe('TELEMETRY_BAD_SCALAR');
    expect(codeOf(() => w.scalars(1, { x: 1 }, NaN))).toBe('TELEMETRY_BAD_SCALAR');
    w.close();
    w.close();
    expect(codeOf(() => w.scalars(1, { x: 1 }))).toBe('TELEMETRY_CLOSED');
    expect(readTfEvents(w.path)).toHaveLength(1);
  });

  it('names the path when the directory cannot be made', () => {
    const file = join(tmp(), 'not-a-dir');
    writeFileSync(file, '');
    let error: unknown;
    try {
      new TensorBoardWriter(join(file, 'tb'));
    } catch (e) {
      error = e;
    }
    expect(isRingtrainError(error) && error.code).toBe('TELEMETRY_WRITE_FAILED');
    expect((error as Error).message).toContain(join(file, 'tb', 'events.out.tfevents.'));
  });

  it('adds 16 bytes of framing to each event', () => {
    const w = new TensorBoardWriter(tmp());
    const before = readFileSync(w.path).length;
    w.scalars(7, { 'train/loss': 2.5 }, 1700000000.5);
    w.close();
    expect(readFileSync(w.path).length - before).toBe(RECORD_OVERHEAD_BYTES + 32);
  });

  (hasTensorBoard ? it : it.skip)("is read by TensorBoard's own event loader", () => {
    const dir = tmp();
    const w = new TensorBoardWriter(dir, { wallTimeSec: 1700000000 });
    w.scalars(1, { 'train/loss': 5.5, 'time/step_ms': 812.25 }, 1700000001);
    w.scalars(2, { 'train/loss': 4.5 }, 1700000002);
    w.close();
    const script = [
      'import sys, json',
      'from tensorboard.backend.event_processing import event_accumulator',
      'acc = event_accumulator.EventAccumulator(sys.argv[1]); acc.Reload()',
      'print(json.dumps({t: [[s.step, s.value, s.wall_time] for s in acc.Scalars(t)] for t in sorted(acc.Tags()["scalars"])}))',
    ].join('\n');
    const out = spawnSync(tbPython, ['-c', script, dir], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout.trim().split('\n').pop() ?? '')).toEqual({
      'time/step_ms': [[1, 812.25, 1700000001]],
      'train/loss': [
        [1, 5.5, 1700000001],
        [2, 4.5, 1700000002],
      ],
    });
  });
});
