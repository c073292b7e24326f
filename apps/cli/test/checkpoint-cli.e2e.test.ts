import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@ringtrain/core';
import { OPTIM_DEFAULTS, resolveModel } from '@ringtrain/config';
import { MODEL_FILE_FORMAT, checkpointsDir, readManifest, writeCheckpoint } from '@ringtrain/coordinator';
import type { Bulk } from '@ringtrain/protocol';
import { paramSpecs } from '@ringtrain/worker';
import { runCli } from './testing/cli';

/**
 * `ringtrain checkpoint ls|verify|inspect|export` on checkpoints written by the store itself,
 * through the built CLI (dist/ringtrain.cjs) as a user runs it.
 */
const model = resolveModel('tiny');
const specs = paramSpecs(model);

/** Deterministic parameters of the tiny model after `step` steps (different at every step). */
function paramsAt(step: number): Map<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> {
  return new Map(
    specs.map((s, i) => {
      const count = s.shape.reduce((a, b) => a * b, 1);
      return [s.name, { dtype: 'float32' as const, shape: s.shape, data: Float32Array.from({ length: count }, (_, j) => Math.sin(1 + i * 7919 + j * 0.37 + step)) }];
    }),
  );
}

async function saveStep(run: string, step: number): Promise<string> {
  const params = paramsAt(step);
  const optimizer: Bulk = new Map();
  for (const [name, t] of params) {
    optimizer.set(`adam.m.${name}`, { dtype: 'float32', shape: t.shape, data: t.data.map((x) => x / 10) });
    optimizer.set(`adam.v.${name}`, { dtype: 'float32', shape: t.shape, data: t.data.map((x) => x * x) });
  }
  const { dir } = await writeCheckpoint(run, {
    manifest: {
      step,
      stage: 0,
      stageStep: step,
      totalSteps: 10,
      worldSize: 2,
      strategy: 'ring',
      layout: 'contiguous',
      model,
      optim: { ...OPTIM_DEFAULTS, totalSteps: 10 },
      optimizerStep: step,
      paramHash: `hash-${step}`,
      data: [{ kind: 'passkey', seed: 1, split: 'train', index: 4 * step, fingerprint: 'e2e' }],
      rng: { seed: 1 },
      metrics: { firstLoss: 5.6, lastLoss: 5 - step / 10, peakRssBytes: 1 << 24, trainSec: step },
    },
    params,
    optimizer,
  });
  return dir;
}

function flipLastByte(file: string): void {
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);
}

const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at |internal error/m);

const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A run directory with checkpoints after steps 2 and 4 (latest: step 4). */
async function runWithCheckpoints(): Promise<{ run: string; step2: string; step4: string }> {
  const run = mkdtempSync(join(tmpdir(), 'ringtrain-ckpt-cli-'));
  temps.push(run);
  return { run, step2: await saveStep(run, 2), step4: await saveStep(run, 4) };
}

describe('ringtrain checkpoint ls', () => {
  it('lists every checkpoint directory with step, time, size and whether it is committed; marks latest', async () => {
    const { run, step4 } = await runWithCheckpoints();
    mkdirSync(join(checkpointsDir(run), 'step-000006.tmp')); // a save that did not finish

    const text = await runCli(['checkpoint', 'ls', run]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STEP\s+CREATED\s+SIZE\s+COMMITTED$/);
    expect(lines[1]).toMatch(/^step-000002\s+2\s+\S+Z\s+[\d.]+ KiB\s+yes$/);
    expect(lines[2]).toMatch(/^step-000004\s+4\s+\S+Z\s+[\d.]+ KiB\s+yes \(latest\)$/);
    expect(lines[3]).toMatch(/^step-000006\.tmp\s+6\s+-\s+0 B\s+no: not committed/);

    const json = await runCli(['checkpoint', 'ls', run, '--json']);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r.latest).toBe('step-000004');
    expect(r.checkpoints.map((e: { name: string; committed: boolean; latest: boolean }) => [e.name, e.committed, e.latest])).toEqual([
      ['step-000002', true, false],
      ['step-000004', true, true],
      ['step-000006.tmp', false, false],
    ]);
    const four = r.checkpoints[1];
    expect(four.createdAt).toBe(readManifest(step4).createdAt);
    expect(four.bytes).toBe(['manifest.json', 'model.safetensors', 'optimizer.safetensors'].reduce((a, f) => a + statSync(join(step4, f)).size, 0));

    // A checkpoint directory lists itself.
    const one = JSON.parse((await runCli(['checkpoint', 'ls', step4, '--json'])).stdout);
    expect(one.checkpoints.map((e: { name: string }) => e.name)).toEqual(['step-000004']);
  });
});

describe('ringtrain checkpoint verify', () => {
  it('passes intact checkpoints, then names the file of a flipped byte and exits 3', async () => {
    const { run, step2, step4 } = await runWithCheckpoints();
    const ok = await runCli(['checkpoint', 'verify', run]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('step-000002  ok\nstep-000004  ok\n2 checkpoint(s) ok\n');

    const damaged = join(step4, 'model.safetensors');
    flipLastByte(damaged);
    const bad = await runCli(['checkpoint', 'verify', run]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toContain('step-000002  ok\n');
    expect(bad.stdout).toContain(`step-000004  BAD: ${damaged} does not match its sha256`);
    expect(bad.stdout).toContain('1 of 2 checkpoint(s) bad');

    const json = await runCli(['checkpoint', 'verify', run, '--json']);
    expect(json.code).toBe(3);
    const r = JSON.parse(json.stdout);
    expect(r.ok).toBe(false);
    expect(r.checkpoints.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([['step-000002', true], ['step-000004', false]]);
    expect(r.checkpoints[1].problem).toContain(damaged);

    // One checkpoint directory verifies alone.
    expect((await runCli(['checkpoint', 'verify', step2])).code).toBe(0);
    expect((await runCli(['checkpoint', 'verify', step4])).code).toBe(3);
  });

  it('calls a path that does not exist a coded error: exit 2, a hint, no stack trace', async () => {
    const r = await runCli(['checkpoint', 'verify', '/nonexistent']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ringtrain: \[RUN_NOT_FOUND\] \/nonexistent does not exist\n {2}hint: /);
    noStack(r.stderr);
    expect(r.stdout).toBe('');
  });

  it('calls a run without checkpoints a coded error (ls just lists none)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ringtrain-ckpt-cli-'));
    temps.push(empty);
    const r = await runCli(['checkpoint', 'verify', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`[NO_CHECKPOINT] ${empty} has no checkpoint\n`);
    noStack(r.stderr);
    const inspect = await runCli(['checkpoint', 'inspect', empty]);
    expect(inspect.code).toBe(2);
    expect(inspect.stderr).toContain(`[NO_CHECKPOINT] ${empty} has no checkpoint that verifies`);
    noStack(inspect.stderr);
    const ls = await runCli(['checkpoint', 'ls', empty]);
    expect(ls).toMatchObject({ code: 0, stdout: `no checkpoints in ${empty}\n` });
  });
});

describe('ringtrain checkpoint inspect', () => {
  it('prints the manifest of latest, of a given checkpoint, and of the fallback when latest is damaged', async () => {
    const { run, step2, step4 } = await runWithCheckpoints();
    const latest = await runCli(['checkpoint', 'inspect', run]);
    expect(latest.code).toBe(0);
    expect(JSON.parse(latest.stdout)).toEqual(readManifest(step4));
    expect(JSON.parse((await runCli(['checkpoint', 'inspect', step2])).stdout)).toEqual(readManifest(step2));

    flipLastByte(join(step4, 'optimizer.safetensors'));
    const fallback = await runCli(['checkpoint', 'inspect', run]);
    expect(fallback.code).toBe(0);
    expect(JSON.parse(fallback.stdout).step).toBe(2);
    expect(fallback.stderr).toContain(`checkpoint ${step4} is unusable`);
  });
});

describe('ringtrain checkpoint export', () => {
  it('writes the parameters with their names, shapes and values, and the model config in the metadata', async () => {
    const { run, step4 } = await runWithCheckpoints();
    const out = join(run, 'exported.safetensors');
    const r = await runCli(['checkpoint', 'export', run, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}: ${specs.length} tensors`);

    const { tensors, metadata } = decodeSafetensors(readFileSync(out), out);
    expect([...tensors.keys()]).toEqual(specs.map((s) => s.name));
    const want = paramsAt(4);
    for (const s of specs) {
      const t = tensors.get(s.name)!;
      expect({ name: s.name, shape: t.shape }).toEqual({ name: s.name, shape: s.shape });
      expect(Buffer.from(t.data.buffer).equals(Buffer.from(want.get(s.name)!.data.buffer))).toBe(true);
    }
    expect(metadata.format).toBe(MODEL_FILE_FORMAT);
    expect(JSON.parse(metadata.model)).toEqual({ ...model });
    expect(metadata.steps).toBe('4');

    // An existing file is kept unless --force.
    const before = readFileSync(out);
    const again = await runCli(['checkpoint', 'export', join(checkpointsDir(run), 'step-000002'), '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`[OUTPUT_EXISTS] --out ${out} already exists`);
    noStack(again.stderr);
    expect(readFileSync(out).equals(before)).toBe(true);
    const forced = await runCli(['checkpoint', 'export', join(checkpointsDir(run), 'step-000002'), '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(decodeSafetensors(readFileSync(out)).metadata.steps).toBe('2');

    // A damaged checkpoint is refused before anything is written.
    flipLastByte(join(step4, 'model.safetensors'));
    const bad = join(run, 'from-damaged.safetensors');
    const refused = await runCli(['checkpoint', 'export', step4, '--out', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('[BAD_CHECKPOINT]');
    expect(refused.stderr).toContain(join(step4, 'model.safetensors'));
    noStack(refused.stderr);
    expect(existsSync(bad)).toBe(false);
  });
});
