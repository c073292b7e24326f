import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@ringtrain/core';
import { CLI, runCli } from './testing/cli';

/**
 * Surviving a dead or hung worker: `train --max-restarts` restarts the worker group from the
 * latest checkpoint and finishes with exactly the parameters of a run that never failed.
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-faults-'));
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

const args = (runDir: string) => [
  'train', '--workers', '2', '--strategy', 'striped', '--seq-len', '3072', '--steps', '30', '--model', 'tiny', '--seed', '11',
  '--eval-samples', '1', '--checkpoint-every', '3', '--max-restarts', '2', '--heartbeat-timeout-ms', '3000', '--run-dir', runDir,
];

/** Pids of the worker processes of the run in `runDir`. */
function workerPids(runDir: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ringtrain.cjs\0worker') && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(runDir);
    } catch {
      return false;
    }
  });
}

async function stepsLogged(runDir: string, n: number): Promise<void> {
  const file = join(runDir, 'metrics.jsonl');
  for (let i = 0; i < 1200; i++) {
    if (existsSync(file) && readFileSync(file, 'utf8').trim().split('\n').length >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never reached ${n} steps`);
}

describe('a failing worker', () => {
  let straight = '';

  beforeAll(async () => {
    straight = join(tmp(), 'straight');
    const run = await runCli(args(straight), {}, 300000);
    expect(run.code).toBe(0);
  }, 300000);

  it.each([
    ['kill -9 in the middle of a step', 'SIGKILL', /WORKER_EXITED|WORKER_LOST|PEER_DEAD/],
    ['SIGSTOP (hung: only heartbeats can tell)', 'SIGSTOP', /PEER_DEAD|heartbeat|did not answer a ping/],
  ] as const)('%s: detected, the group restarted from the checkpoint, the final parameters equal an uninterrupted run\'s', async (_, signal, reason) => {
    const runDir = join(tmp(), 'faulty');
    const child = spawn(process.execPath, [CLI, ...args(runDir)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    await stepsLogged(runDir, 5);
    const [victim] = workerPids(runDir);
    expect(victim).toBeGreaterThan(0);
    const t0 = Date.now();
    process.kill(victim, signal);
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/restart 1 of 2 from the latest checkpoint/);
    expect(stdout).toMatch(/training again at step \d+, [\d.]+ s after the failure/);
    const restarts = readFileSync(join(runDir, 'restarts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(restarts[0].reason).toMatch(reason);
    expect(restarts[1].recoveredMs).toBeGreaterThan(0);
    if (signal === 'SIGSTOP') expect(Date.parse(restarts[0].failedAt) - t0).toBeLessThan(3000 + 5000); // within the heartbeat timeout (+ one ping interval, + slack)
    expect(sha(join(runDir, 'model.safetensors'))).toBe(sha(join(straight, 'model.safetensors')));
    expect(workerPids(runDir)).toEqual([]); // the stopped worker was cleaned up too
  }, 600000);

  it('three failures in one run: each costs a restart, and the run still ends with the uninterrupted parameters', async () => {
    const runDir = join(tmp(), 'thrice');
    const child = spawn(process.execPath, [CLI, ...args(runDir), '--max-restarts', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    for (const [n, atStep] of [[1, 4], [2, 10], [3, 17]]) {
      await stepsLogged(runDir, atStep);
      // After a restart, wait for the new world's workers before killing one of them.
      let victims: number[] = [];
      for (let i = 0; i < 400 && victims.length < 2; i++) {
        victims = workerPids(runDir);
        if (victims.length < 2) await new Promise((r) => setTimeout(r, 50));
      }
      process.kill(victims[n % 2], 'SIGKILL');
      for (let i = 0; i < 600 && !stdout.includes(`restart ${n} of 3`); i++) await new Promise((r) => setTimeout(r, 50));
    }
    expect(await exited).toBe(0);
    const restarts = readFileSync(join(runDir, 'restarts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(restarts.filter((r) => r.reason).map((r) => r.restart)).toEqual([1, 2, 3]);
    expect(restarts.filter((r) => r.recoveredMs !== undefined)).toHaveLength(3);
    expect(sha(join(runDir, 'model.safetensors'))).toBe(sha(join(straight, 'model.safetensors')));
  }, 600000);

  it('the commands of the README work as typed: train with checkpoints, train on with --resume, export', async () => {
    const dir = tmp();
    const base = ['train', '--data', 'passkey', '--workers', '2', '--strategy', 'ring', '--seq-len', '512', '--seed', '5', '--checkpoint-every', '2'];
    const first = await runCli([...base, '--steps', '8', '--max-restarts', '3', '--run-dir', join(dir, 'R')], {}, 300000);
    expect(first.code).toBe(0);
    const more = await runCli([...base, '--steps', '16', '--max-restarts', '3', '--run-dir', join(dir, 'R'), '--resume'], {}, 300000);
    expect(more.code).toBe(0);
    expect(more.stdout).toMatch(/resumed from .*step-000008 at step 8/);
    expect(more.stdout).toMatch(/step 16\/16/);
    const out = join(dir, 'model.safetensors');
    const exported = await runCli(['checkpoint', 'export', join(dir, 'R'), '--out', out], {}, 60000);
    expect(exported.code).toBe(0);
    const { tensors, metadata } = decodeSafetensors(readFileSync(out));
    expect(tensors.get('layers.1.mlp.w2')!.shape).toEqual([64, 16]);
    expect(metadata.steps).toBe('16');
    // The exported parameters are the trained ones: the run's own model file holds the same bytes per tensor.
    const saved = decodeSafetensors(readFileSync(join(dir, 'R', 'model.safetensors'))).tensors;
    for (const [name, t] of tensors) expect(Buffer.from(t.data.buffer).equals(Buffer.from(saved.get(name)!.data.buffer))).toBe(true);
    execFileSync('rm', ['-rf', dir]);
  }, 600000);
});
