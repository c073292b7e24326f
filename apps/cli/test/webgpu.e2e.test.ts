import type { TrainCheckCase } from '../src/check/run-train-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/**
 * `--backend webgpu` from the user's side: real worker processes on the WebGPU backend against
 * the single-process CPU reference. RINGTRAIN_WEBGPU_TESTS names the adapter this machine must
 * give (`lavapipe` in CI, scripts/test.mjs; `gpu` on a GPU host); unset, those tests are skipped.
 */
const want = process.env.RINGTRAIN_WEBGPU_TESTS;
const onGpu = want ? describe : describe.skip;

onGpu(`ringtrain on --backend webgpu (${want})`, () => {
  it('check: every strategy matches the reference, forward and backward, at an odd length', async () => {
    const strategies = ['ring', 'striped', 'zigzag', 'ulysses', 'rsa'];
    const run = await runCli(['check', '--backend', 'webgpu', '--strategies', strategies.join(','), '--workers', '2', '--seq-len', '257', '--heads', '4', '--head-dim', '32', '--json'], {}, 540000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: Array<{ strategy: string; ok: boolean }>; workers: Array<{ backend: string; device: string }> };
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.strategy).sort()).toEqual([...strategies].sort());
    expect(report.cases.every((c) => c.ok)).toBe(true);
    // Each worker said what it runs on: the adapter this machine must have.
    expect(report.workers).toHaveLength(2);
    for (const w of report.workers) {
      expect(w.backend).toBe('webgpu');
      if (want === 'lavapipe') expect(w.device).toMatch(/llvmpipe.*software/);
      else expect(w.device).not.toMatch(/software/);
    }
  }, 560000);

  it.each([
    ['P=3, GQA 4/2, causal', ['--workers', '3', '--seq-len', '101', '--heads', '4', '--kv-heads', '2', '--head-dim', '16', '--strategies', 'ring,zigzag,rsa']],
    ['P=2, 5 packed documents', ['--workers', '2', '--seq-len', '90', '--heads', '2', '--head-dim', '8', '--docs', '5', '--strategies', 'ring,striped,zigzag,ulysses,rsa']],
    ['P=3, not causal, head dim 13', ['--workers', '3', '--seq-len', '50', '--heads', '3', '--head-dim', '13', '--no-causal', '--strategies', 'striped,ulysses']],
  ])('check: %s', async (_name, args) => {
    const run = await runCli(['check', '--backend', 'webgpu', ...args, '--json'], {}, 540000);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: Array<{ ok: boolean }> };
    expect(report.ok).toBe(true);
    expect(report.cases.length).toBe(args[args.length - 1].split(',').length);
  }, 560000);

  it('check --train: a training step on the GPU equals the single-process step', async () => {
    const run = await runCli(['check', '--train', '--backend', 'webgpu', '--json', '--workers', '2', '--seq-len', '127', '--strategies', 'striped,ulysses'], {}, 540000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: TrainCheckCase[] };
    expect(report.ok).toBe(true);
    for (const c of report.cases) {
      expect(c.loss).toBeGreaterThan(1);
      expect(c.maxGradRelErr).toBeLessThanOrEqual(1e-4);
    }
  }, 560000);

  it('check --train with packed documents and per-document positions equals the single-process step', async () => {
    const run = await runCli(['check', '--train', '--backend', 'webgpu', '--json', '--workers', '2', '--seq-len', '127', '--docs', '4', '--positions', 'per-document', '--strategies', 'zigzag'], {}, 540000);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: TrainCheckCase[] };
    expect(report.ok).toBe(true);
  }, 560000);

  it('a tensor over the adapter\'s buffer limit is refused before the step runs, naming the tensor, its size and the limit', async () => {
    if (want !== 'lavapipe') return; // lavapipe binds 128 MiB per buffer; a GPU's limit needs a far longer sequence
    const dir = mkdtempSync(join(tmpdir(), 'rt-bufl-'));
    try {
      const run = await runCli(['train', '--backend', 'webgpu', '--model', 'tiny', '--workers', '1', '--seq-len', '140000', '--steps', '1', '--run-dir', join(dir, 'run')], {}, 120000);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/\[DEVICE_BUFFER_LIMIT\] worker 0: the logits \[140000, 258\] needs 137\.8 MiB in one buffer, over the GPU's limit of 128\.0 MiB/);
      expect(run.stderr).not.toMatch(/internal error|\n\s+at .*\.(c?js|ts):\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150000);

  it('auto passes over a software adapter, saying so, and runs on native', async () => {
    if (want !== 'lavapipe') return;
    const run = await runCli(['check', '--backend', 'auto', '--strategies', 'ring', '--workers', '2', '--seq-len', '33', '--heads', '2', '--head-dim', '8'], { RINGTRAIN_LOG_LEVEL: 'debug' }, 120000);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/passed over: webgpu: only a software adapter was found \(.*llvmpipe/);
    expect(run.stdout).toMatch(/ranks 0, 1: native on cpu/);
  }, 150000);
});

describe('--backend webgpu where Vulkan is missing', () => {
  it('exits 2 with one line naming what is missing and how to install it, no stack trace', async () => {
    const run = await runCli(['check', '--backend', 'webgpu', '--strategies', 'ring', '--workers', '2', '--seq-len', '33', '--heads', '2', '--head-dim', '8'], {
      VK_ICD_FILENAMES: '/nonexistent/icd.json',
      VK_DRIVER_FILES: '',
    }, 120000);
    expect(run.code).toBe(2);
    const text = run.stdout + run.stderr;
    expect(text).toMatch(/BACKEND_UNAVAILABLE/);
    expect(text).toMatch(/no Vulkan driver manifest \(ICD\)/);
    expect(text).toMatch(/NVIDIA_DRIVER_CAPABILITIES/);
    expect(text).not.toMatch(/\n\s+at .*\.(c?js|ts):\d+/);
  }, 150000);
});
