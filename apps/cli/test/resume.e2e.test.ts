import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli } from './testing/cli';

/**
 * Checkpoints and resume as a user drives them: a resumed run equals the uninterrupted one bit
 * for bit (every per-step loss and the final parameters), from inside a warm-up stage too; a stop
 * signal saves and exits 0; a run goes on at another world size and strategy; a damaged or
 * half-written checkpoint is skipped with a message; a checkpoint of another model is refused.
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-resume-'));
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
/** What must match bit for bit: per step the loss, gradient norm and learning rate (timings differ). */
const losses = (runDir: string) =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const m = JSON.parse(l) as { step: number; loss: number; gradNorm: number; lr: number };
    return { step: m.step, loss: m.loss, gradNorm: m.gradNorm, lr: m.lr };
  });

/** Warm-up (copy task, 4 steps) then the main stage (4 steps), a checkpoint after every step, all kept. */
function warmupConfig(dir: string): string {
  const file = join(dir, 'run.json');
  writeFileSync(file, JSON.stringify({
    workers: 2, strategy: 'striped', seqLen: 160, steps: 4, model: 'tiny', evalSamples: 1, lr: 0.01, seed: 3,
    seqLenWarmup: [{ seqLen: 96, batchSize: 2, steps: 4, data: 'copy' }],
    checkpointEvery: 1, keepLast: 0,
  }));
  return file;
}

describe('resume', () => {
  let base = '';
  let full = '';

  beforeAll(async () => {
    base = tmp();
    full = join(base, 'full');
    const run = await runCli(['train', '--config', warmupConfig(base), '--run-dir', full], {}, 300000);
    expect(run.code).toBe(0);
  }, 300000);

  it.each([2, 4, 6])('from the checkpoint after step %i (warm-up, its boundary, main stage) equals the uninterrupted run bit for bit', async (step) => {
    const copy = join(tmp(), 'copy');
    cpSync(full, copy, { recursive: true });
    const ckpt = join(copy, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
    const run = await runCli(['resume', ckpt], {}, 300000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`resumed from .*step-0+${step} at step ${step}`));
    expect(losses(copy)).toEqual(losses(full)); // the same 8 steps, every loss bit-identical
    expect(sha(join(copy, 'model.safetensors'))).toBe(sha(join(full, 'model.safetensors')));
    expect(readFileSync(join(copy, 'eval.jsonl'), 'utf8').trim().split('\n').pop()).toBe(readFileSync(join(full, 'eval.jsonl'), 'utf8').trim());
  }, 300000);

  it.each([['3', 'zigzag'], ['2', 'ulysses']])('goes on with %s %s workers from 2 striped workers\' checkpoint, the next losses within 1e-4', async (workers, strategy) => {
    const copy = join(tmp(), 'elastic');
    cpSync(full, copy, { recursive: true });
    const run = await runCli(['resume', join(copy, 'checkpoints', 'step-000005'), '--workers', workers, '--strategy', strategy], {}, 300000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/resumed from .*step-000005 at step 5 \(saved by 2 striped workers\)/);
    const want = losses(full);
    const got = losses(copy);
    expect(got.map((m) => m.step)).toEqual(want.map((m) => m.step));
    for (let s = 5; s < 8; s++) expect(Math.abs(got[s].loss - want[s].loss)).toBeLessThanOrEqual(1e-4 * Math.abs(want[s].loss));
    expect(JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8'))).toMatchObject({ workers: Number(workers), strategy });
  }, 300000);

  it('skips a damaged latest checkpoint (one flipped byte) and a half-written one, saying so', async () => {
    const copy = join(tmp(), 'damaged');
    cpSync(full, copy, { recursive: true });
    const model = join(copy, 'checkpoints', 'step-000008', 'model.safetensors');
    const bytes = readFileSync(model);
    bytes[bytes.length - 3] ^= 0x10;
    writeFileSync(model, bytes);
    const half = join(copy, 'checkpoints', 'step-000009.tmp');
    mkdirSync(half);
    writeFileSync(join(half, 'model.safetensors'), bytes.subarray(0, 100));
    const run = await runCli(['resume', copy, '--steps', '5'], {}, 300000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/step-000008 is unusable .*model\.safetensors/);
    expect(run.stdout).toMatch(/removed .*step-000009\.tmp: a save that did not finish/);
    expect(run.stdout).toMatch(/resumed from .*step-000007 at step 7/);
    expect(existsSync(half)).toBe(false);
  }, 300000);

  it('refuses a checkpoint of another model, showing the difference', async () => {
    const copy = join(tmp(), 'other-model');
    cpSync(full, copy, { recursive: true });
    const cfg = JSON.parse(readFileSync(warmupConfig(tmp()), 'utf8'));
    const file = join(tmp(), 'deeper.json');
    writeFileSync(file, JSON.stringify({ ...cfg, model: 'tiny,layers=3' }));
    const before = readFileSync(join(copy, 'config.json'), 'utf8');
    const run = await runCli(['train', '--config', file, '--run-dir', copy, '--resume'], {}, 300000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/CHECKPOINT_MISMATCH.*layers 2 in the checkpoint, 3 requested/);
    expect(readFileSync(join(copy, 'config.json'), 'utf8')).toBe(before); // the run's own config survives the mistake
    expect(run.stderr).not.toMatch(/^\s+at /m);
  }, 300000);

  it('will not reuse a run directory silently', async () => {
    const run = await runCli(['train', '--config', warmupConfig(tmp()), '--run-dir', full], {}, 60000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\[RUN_DIR_EXISTS\] run directory .* holds an earlier run[\s\S]*--resume[\s\S]*--overwrite/);
  });
});

describe('a stop signal', () => {
  it('saves a checkpoint and exits 0; resuming then ends where an uninterrupted run ends, bit for bit', async () => {
    const dir = tmp();
    const args = (runDir: string) => ['train', '--workers', '2', '--strategy', 'striped', '--seq-len', '2048', '--steps', '24', '--model', 'tiny', '--seed', '7', '--eval-samples', '1', '--checkpoint-every', '0', '--run-dir', runDir];
    const straight = await runCli(args(join(dir, 'straight')), {}, 300000);
    expect(straight.code).toBe(0);

    const runDir = join(dir, 'stopped');
    const child = spawn(process.execPath, [CLI, ...args(runDir)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    // Stop once a few steps are in metrics.jsonl (wherever it lands, the resumed run must match).
    const metrics = join(runDir, 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const m = /stopped after step (\d+) \(SIGTERM\); saved checkpoint (\S+);/.exec(stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(24);
    expect(existsSync(join(m![2], 'manifest.json'))).toBe(true);

    const resumed = await runCli(['resume', runDir], {}, 300000);
    expect(resumed.code).toBe(0);
    expect(losses(runDir)).toEqual(losses(join(dir, 'straight')));
    expect(sha(join(runDir, 'model.safetensors'))).toBe(sha(join(dir, 'straight', 'model.safetensors')));
  }, 600000);

  it('kill -9 of train itself: the coordinator saves after the step, no process is left, and resume finishes the run exactly', async () => {
    const dir = tmp();
    const args = (runDir: string) => ['train', '--workers', '2', '--strategy', 'zigzag', '--seq-len', '2048', '--steps', '24', '--model', 'tiny', '--seed', '8', '--eval-samples', '1', '--run-dir', runDir];
    const straight = await runCli(args(join(dir, 'straight')), {}, 300000);
    expect(straight.code).toBe(0);
    const runDir = join(dir, 'killed');
    const child = spawn(process.execPath, [CLI, ...args(runDir)], { stdio: ['ignore', 'ignore', 'ignore'] });
    const metrics = join(runDir, 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    // The coordinator notices its parent is gone (stdin closed), saves after the step in flight, and stops the workers.
    const latest = join(runDir, 'checkpoints', 'latest');
    for (let i = 0; i < 600 && !existsSync(latest); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(latest)).toBe(true);
    for (let i = 0; i < 200 && processesOf(runDir) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(processesOf(runDir)).toBe(0);
    const resumed = await runCli(['resume', runDir], {}, 300000);
    expect(resumed.code).toBe(0);
    expect(losses(runDir)).toEqual(losses(join(dir, 'straight')));
    expect(sha(join(runDir, 'model.safetensors'))).toBe(sha(join(dir, 'straight', 'model.safetensors')));
  }, 600000);
});

/** Live coordinator/worker processes of the run in `runDir`. */
function processesOf(runDir: string): number {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      return /ringtrain\.cjs\0(worker|coordinator)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')) && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(runDir);
    } catch {
      return false;
    }
  }).length;
}

