import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { OPTIM_DEFAULTS, resolveModel } from '@ringtrain/config';
import type { Bulk } from '@ringtrain/protocol';
import { CHECKPOINT_FORMAT, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, parseManifest } from './manifest';
import {
  checkpointsDir,
  cleanUnfinished,
  findResumable,
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  readManifest,
  verifyCheckpoint,
  writeCheckpoint,
  type CheckpointContent,
} from './store';

/**
 * The checkpoint store on real files: the commit protocol, bit-exact round trips, and what each
 * kind of damage reports (docs/checkpoints.md).
 */

/** A float32 tensor from raw bit patterns, so NaN payloads, -0 and subnormals travel too. */
function fromBits(shape: number[], bits: number[]): { dtype: 'float32'; shape: number[]; data: Float32Array } {
  return { dtype: 'float32', shape, data: new Float32Array(Uint32Array.from(bits).buffer) };
}

const bitsOf = (data: Float32Array | Int32Array) => Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));

/** Two parameters and their Adam moments, different at every step. */
function content(step: number): CheckpointContent {
  const awkward = [0x7fc00001, 0x80000000, 0x00000001, 0x7f7fffff, 0xff800000, 0x3f800000];
  const params: Bulk = new Map([
    ['layers.0.attn.wq', fromBits([2, 3], awkward.map((b) => (b + step) >>> 0))],
    ['final_norm.gain', fromBits([3], [0x3f800000 + step, 0xbf000000, 0x40490fdb])],
  ]);
  const optimizer: Bulk = new Map();
  for (const [name, t] of params) {
    optimizer.set(`adam.m.${name}`, fromBits(t.shape, bitsOf(t.data).map((b) => (b ^ 0x1) >>> 0)));
    optimizer.set(`adam.v.${name}`, fromBits(t.shape, bitsOf(t.data).map((b) => (b ^ 0x2) >>> 0)));
  }
  return {
    manifest: {
      step,
      stage: 0,
      stageStep: step,
      totalSteps: 100,
      worldSize: 2,
      strategy: 'zigzag',
      layout: 'zigzag',
      model: resolveModel('tiny'),
      optim: { ...OPTIM_DEFAULTS, totalSteps: 100 },
      optimizerStep: step,
      paramHash: `hash-${step}`,
      data: [{ kind: 'passkey', seed: 1, split: 'train', index: 4 * step, fingerprint: 'test-fingerprint' }],
      rng: { seed: 1 },
      metrics: { firstLoss: 5.5, lastLoss: 5 - step / 10, peakRssBytes: 1 << 20, trainSec: step },
    },
    params,
    optimizer,
  };
}

const tempRun = () => mkdtempSync(join(tmpdir(), 'ringtrain-ckpt-'));
const stepDir = (run: string, name: string) => join(checkpointsDir(run), name);
const latestOf = (run: string) => readFileSync(join(checkpointsDir(run), 'latest'), 'utf8').trim();

/** The RingtrainError `fn` throws (fails the test if it throws something else or nothing). */
function caught(fn: () => unknown): RingtrainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RingtrainError);
    return e as RingtrainError;
  }
  throw new Error('expected a RingtrainError, nothing was thrown');
}

function flipByte(file: string, at: number): void {
  const bytes = readFileSync(file);
  bytes[at] ^= 0xff;
  writeFileSync(file, bytes);
}

const runs: string[] = [];
afterAll(() => runs.forEach((r) => rmSync(r, { recursive: true, force: true })));
function newRun(): string {
  const run = tempRun();
  runs.push(run);
  return run;
}

describe('writeCheckpoint', () => {
  it('commits step-N with its manifest and both files, points latest at it, and leaves no .tmp', async () => {
    const run = newRun();
    const { dir, bytes } = await writeCheckpoint(run, content(3));
    expect(dir).toBe(stepDir(run, 'step-000003'));
    expect(readdirSync(dir).sort()).toEqual([MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE].sort());
    expect(latestOf(run)).toBe('step-000003');
    expect(readdirSync(checkpointsDir(run)).sort()).toEqual(['latest', 'step-000003']);

    const m = readManifest(dir);
    expect(m.format).toBe(CHECKPOINT_FORMAT);
    expect(m.step).toBe(3);
    expect(m.data[0]).toEqual({ kind: 'passkey', seed: 1, split: 'train', index: 12, fingerprint: 'test-fingerprint' });
    for (const file of [MODEL_FILE, OPTIMIZER_FILE]) {
      const onDisk = readFileSync(join(dir, file));
      expect(m.files[file]).toEqual({ bytes: onDisk.length, sha256: createHash('sha256').update(onDisk).digest('hex') });
    }
    expect(m.tensors).toEqual([
      { name: 'layers.0.attn.wq', shape: [2, 3], dtype: 'F32', file: MODEL_FILE },
      { name: 'final_norm.gain', shape: [3], dtype: 'F32', file: MODEL_FILE },
      { name: 'adam.m.layers.0.attn.wq', shape: [2, 3], dtype: 'F32', file: OPTIMIZER_FILE },
      { name: 'adam.v.layers.0.attn.wq', shape: [2, 3], dtype: 'F32', file: OPTIMIZER_FILE },
      { name: 'adam.m.final_norm.gain', shape: [3], dtype: 'F32', file: OPTIMIZER_FILE },
      { name: 'adam.v.final_norm.gain', shape: [3], dtype: 'F32', file: OPTIMIZER_FILE },
    ]);
    expect(bytes).toBe(readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0));

    // A later save moves latest and leaves the earlier checkpoint as it was.
    const before = readFileSync(join(dir, MODEL_FILE));
    await writeCheckpoint(run, content(6));
    expect(latestOf(run)).toBe('step-000006');
    expect(readFileSync(join(dir, MODEL_FILE)).equals(before)).toBe(true);
    expect(listCheckpoints(run).map((e) => [e.name, e.committed])).toEqual([['step-000003', true], ['step-000006', true]]);
  });
});

describe('loadCheckpoint', () => {
  it('gives back every tensor bit for bit, with its shape, in the order written', async () => {
    const run = newRun();
    const saved = content(5);
    const { dir } = await writeCheckpoint(run, saved);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.manifest.step).toBe(5);
    for (const [want, got] of [[saved.params, loaded.params], [saved.optimizer, loaded.optimizer]]) {
      expect([...got.keys()]).toEqual([...want.keys()]);
      for (const [name, t] of want) {
        const g = got.get(name)!;
        expect({ name, dtype: g.dtype, shape: g.shape }).toEqual({ name, dtype: 'float32', shape: t.shape });
        expect(bitsOf(g.data)).toEqual(bitsOf(t.data));
      }
    }
  });
});

describe('verifyCheckpoint', () => {
  let run: string;
  let dir: string;
  beforeEach(async () => {
    run = newRun();
    dir = (await writeCheckpoint(run, content(2))).dir;
  });

  it('passes an intact checkpoint', () => {
    expect(verifyCheckpoint(dir).step).toBe(2);
  });

  it('names model.safetensors when one byte of it flipped', () => {
    const file = join(dir, MODEL_FILE);
    flipByte(file, statSync(file).size - 1);
    const e = caught(() => verifyCheckpoint(dir));
    expect(e.code).toBe('BAD_CHECKPOINT');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/sha256/);
    expect(e.hint).toBeTruthy();
  });

  it('names optimizer.safetensors when it was truncated', () => {
    const file = join(dir, OPTIMIZER_FILE);
    truncateSync(file, statSync(file).size - 7);
    const e = caught(() => verifyCheckpoint(dir));
    expect(e.code).toBe('BAD_CHECKPOINT');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/bytes.*truncated/);
  });

  it('names a missing file', () => {
    const file = join(dir, OPTIMIZER_FILE);
    rmSync(file);
    const e = caught(() => verifyCheckpoint(dir));
    expect(e.code).toBe('BAD_CHECKPOINT');
    expect(e.message).toBe(`${file} is missing`);
  });

  it('is what loadCheckpoint runs first: a damaged checkpoint is never loaded', async () => {
    flipByte(join(dir, MODEL_FILE), statSync(join(dir, MODEL_FILE)).size - 1);
    await expect(loadCheckpoint(dir)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT' });
  });
});

describe('manifest', () => {
  it('refuses an unknown format version with a hint', async () => {
    const run = newRun();
    const { dir } = await writeCheckpoint(run, content(1));
    const json = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
    expect(parseManifest(json, 'm.json').step).toBe(1);
    const e = caught(() => parseManifest({ ...json, format: 'ringtrain.checkpoint/99' }, 'm.json'));
    expect(e.code).toBe('BAD_CHECKPOINT');
    expect(e.message).toContain('m.json');
    expect(e.message).toContain('ringtrain.checkpoint/99');
    expect(e.hint).toMatch(/format version/);

    // The same through readManifest, which names the file.
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...json, format: 'ringtrain.checkpoint/99' }));
    expect(caught(() => readManifest(dir)).message).toContain(join(dir, MANIFEST_FILE));
  });

  it('readManifest says a directory without a manifest is not a checkpoint', () => {
    const run = newRun();
    const e = caught(() => readManifest(run));
    expect(e.code).toBe('NOT_A_CHECKPOINT');
    expect(e.message).toContain(run);
    expect(e.hint).toBeTruthy();
  });

  it('readManifest calls a manifest that is not JSON a bad checkpoint', async () => {
    const run = newRun();
    const { dir } = await writeCheckpoint(run, content(1));
    writeFileSync(join(dir, MANIFEST_FILE), '{"format": "ringtrain.checkp');
    expect(caught(() => readManifest(dir)).code).toBe('BAD_CHECKPOINT');
  });
});

describe('findResumable', () => {
  it('takes latest when it verifies', async () => {
    const run = newRun();
    await writeCheckpoint(run, content(2));
    await writeCheckpoint(run, content(4));
    const fallbacks: string[] = [];
    expect(findResumable(run, (m) => fallbacks.push(m))).toBe(stepDir(run, 'step-000004'));
    expect(fallbacks).toEqual([]);
  });

  it('falls back from a damaged latest to the previous good checkpoint and says so', async () => {
    const run = newRun();
    await writeCheckpoint(run, content(2));
    const { dir } = await writeCheckpoint(run, content(4));
    flipByte(join(dir, MODEL_FILE), statSync(join(dir, MODEL_FILE)).size - 1);
    const fallbacks: string[] = [];
    expect(findResumable(run, (m) => fallbacks.push(m))).toBe(stepDir(run, 'step-000002'));
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toContain(dir);
    expect(fallbacks[0]).toContain(MODEL_FILE);
  });

  it('accepts a checkpoint directory itself', async () => {
    const run = newRun();
    const { dir } = await writeCheckpoint(run, content(2));
    await writeCheckpoint(run, content(4));
    expect(findResumable(dir, () => undefined)).toBe(dir);
  });

  it('returns null for a run without checkpoints', () => {
    const run = newRun();
    const fallbacks: string[] = [];
    expect(findResumable(run, (m) => fallbacks.push(m))).toBeNull();
    mkdirSync(checkpointsDir(run));
    expect(findResumable(run, (m) => fallbacks.push(m))).toBeNull();
    expect(fallbacks).toEqual([]);
  });

  it('throws RUN_NOT_FOUND for a path that does not exist', () => {
    const missing = join(newRun(), 'no-such-run');
    const e = caught(() => findResumable(missing, () => undefined));
    expect(e.code).toBe('RUN_NOT_FOUND');
    expect(e.message).toContain(missing);
    expect(e.hint).toBeTruthy();
  });
});

describe('cleanUnfinished', () => {
  it('removes a save killed half way and leaves committed checkpoints', async () => {
    const run = newRun();
    const { dir } = await writeCheckpoint(run, content(2));
    // What a process killed during the save of step 4 leaves: a .tmp directory with part of one file.
    const tmp = stepDir(run, 'step-000004.tmp');
    mkdirSync(tmp);
    writeFileSync(join(tmp, MODEL_FILE), readFileSync(join(dir, MODEL_FILE)).subarray(0, 40));
    const unfinished = listCheckpoints(run).find((e) => e.name === 'step-000004.tmp');
    expect(unfinished).toMatchObject({ step: 4, committed: false, bytes: 40 });
    expect(findResumable(run, () => undefined)).toBe(dir); // never a candidate

    expect(await cleanUnfinished(run)).toEqual([tmp]);
    expect(existsSync(tmp)).toBe(false);
    expect(verifyCheckpoint(dir).step).toBe(2);
    expect(latestOf(run)).toBe('step-000002');
    expect(await cleanUnfinished(run)).toEqual([]);
  });
});

describe('pruneCheckpoints', () => {
  it('keeps the newest K committed checkpoints and nothing else is touched', async () => {
    const run = newRun();
    for (const step of [2, 3, 4, 5]) await writeCheckpoint(run, content(step));
    // Not ringtrain checkpoints: a user's folder, a step directory without manifest, an unfinished save.
    const notes = stepDir(run, 'notes');
    mkdirSync(notes);
    writeFileSync(join(notes, 'todo.txt'), 'keep me');
    const bare = stepDir(run, 'step-000001');
    mkdirSync(bare);
    writeFileSync(join(bare, MODEL_FILE), 'not a checkpoint');
    const tmp = stepDir(run, 'step-000009.tmp');
    mkdirSync(tmp);

    const removed = await pruneCheckpoints(run, 2);
    expect(removed).toEqual([stepDir(run, 'step-000002'), stepDir(run, 'step-000003')]);
    expect(readdirSync(checkpointsDir(run)).sort()).toEqual(['latest', 'notes', 'step-000001', 'step-000004', 'step-000005', 'step-000009.tmp']);
    expect(readFileSync(join(notes, 'todo.txt'), 'utf8')).toBe('keep me');
    expect(readFileSync(join(bare, MODEL_FILE), 'utf8')).toBe('not a checkpoint');
    expect(latestOf(run)).toBe('step-000005');

    expect(await pruneCheckpoints(run, 2)).toEqual([]);
    expect(await pruneCheckpoints(run, 0)).toEqual([]); // 0 keeps everything
    expect(readdirSync(checkpointsDir(run))).toContain('step-000004');
  });

  it('never deletes the checkpoint latest names, even when a newer step exists beside it', async () => {
    // A run resumed from step 2 while step 5 of an abandoned continuation is still there: its
    // next save (step 3) is latest, and what a later resume must find.
    const run = newRun();
    await writeCheckpoint(run, content(2));
    await writeCheckpoint(run, content(5));
    await writeCheckpoint(run, content(3));
    expect(latestOf(run)).toBe('step-000003');
    await pruneCheckpoints(run, 1);
    expect(existsSync(stepDir(run, 'step-000003'))).toBe(true);
    expect(findResumable(run, () => undefined)).toBe(stepDir(run, 'step-000003'));
  });
});

describe('when no checkpoint of a run verifies', () => {
  it('findResumable refuses with NO_CHECKPOINT instead of starting over, after saying why each was skipped', async () => {
    const run = newRun();
    await writeCheckpoint(run, content(2));
    await writeCheckpoint(run, content(4));
    for (const name of ['step-000002', 'step-000004']) flipByte(join(stepDir(run, name), MODEL_FILE), 20);
    const skipped: string[] = [];
    expect(() => findResumable(run, (m) => skipped.push(m))).toThrow(expect.objectContaining({ code: 'NO_CHECKPOINT' }));
    expect(skipped).toHaveLength(2);
  });
});
