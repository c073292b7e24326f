import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli } from './testing/cli';

/**
 * A job as a scheduler starts it: `ringtrain coordinator` and each `ringtrain worker` by separate
 * commands, configured by environment variables alone (torchrun's names here; Slurm's and an
 * Indexed Job's are mapped onto them). A killed worker started again rejoins, the survivor
 * registers again by itself, and the world re-forms from the latest checkpoint: the final
 * parameters equal an uninterrupted run's.
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-cluster-'));
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const TRAIN = ['--strategy', 'striped', '--seq-len', '3072', '--steps', '45', '--model', 'tiny', '--seed', '11', '--eval-samples', '1', '--checkpoint-every', '3', '--heartbeat-timeout-ms', '3000'];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Proc {
  // Only what a scheduler would set: no inherited RANK/WORLD_SIZE/SLURM_* from the test's own environment.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RANK|WORLD_SIZE|LOCAL_RANK|MASTER_|SLURM_|RINGTRAIN_|JOB_COMPLETION_INDEX)/.test(k)));
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, RINGTRAIN_BACKEND: 'native', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out, exited: new Promise((r) => child.on('close', r)) };
}

async function until(what: string, test: () => boolean, ms = 120000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (test()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('coordinator and workers started by separate commands, from the environment alone', () => {
  let straight = '';
  let secretFile = '';

  beforeAll(async () => {
    const dir = tmp();
    secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'a-job-secret-only-its-owner-reads\n');
    chmodSync(secretFile, 0o600);
    straight = join(dir, 'straight');
    const run = await runCli(['train', '--workers', '2', ...TRAIN, '--run-dir', straight], {}, 300000);
    expect(run.code).toBe(0);
  }, 300000);

  it('workers killed three times in one run rejoin each time; the world re-forms from the latest checkpoint and ends with an uninterrupted run\'s parameters', async () => {
    const runDir = join(tmp(), 'run');
    const port = String(await freePort());
    const job = { WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RINGTRAIN_SECRET_FILE: secretFile, RINGTRAIN_JOB_ID: 'job-7' };
    const coordinator = start(['coordinator', '--run-dir', runDir, '--max-restarts', '5', ...TRAIN], job);
    const workers = [0, 1].map((rank) => start(['worker'], { ...job, RANK: String(rank) }));
    const all = [...workers];
    try {
      // Rank 1, then rank 0, then rank 1 again: each time the other one is the survivor that registers again by itself.
      for (const [i, victim] of [1, 0, 1].entries()) {
        await until(`step ${5 + 12 * i}`, () => lines(join(runDir, 'metrics.jsonl')).length >= 5 + 12 * i);
        workers[victim].child.kill('SIGKILL');
        await workers[victim].exited;
        workers[victim] = start(['worker'], { ...job, RANK: String(victim) });
        all.push(workers[victim]);
      }
      expect(await coordinator.exited).toBe(0);
      for (const w of all.slice(3)) expect(await w.exited).toBe(0); // the killed ones are all[0..2]

      const restarts = lines(join(runDir, 'restarts.jsonl')).map((l) => JSON.parse(l));
      expect(restarts.map((r) => r.restart)).toEqual([1, 2, 3]);
      expect(restarts[0]).toMatchObject({ of: 5, rejoin: true });
      const resumed = coordinator.out().split('\n').filter((l) => l.includes('"event":"resumed"')).map((l) => JSON.parse(l));
      expect(resumed).toHaveLength(3);
      for (const r of resumed) {
        expect(r.step % 3).toBe(0); // a committed checkpoint, not step 0
        expect(r.step).toBeGreaterThanOrEqual(3);
      }
      expect(all[0].out()).toMatch(/registering again/);
      expect(lines(join(runDir, 'metrics.jsonl')).map((l) => JSON.parse(l).step).at(-1)).toBe(45);
      expect(sha(join(runDir, 'model.safetensors'))).toBe(sha(join(straight, 'model.safetensors')));
    } catch (err) {
      process.stderr.write(`coordinator:\n${coordinator.out().slice(-3000)}\n`);
      throw err;
    } finally {
      for (const p of [coordinator, ...all]) p.child.kill('SIGKILL');
    }
  }, 400000);

  it('a restarted (or requeued) coordinator continues its run directory instead of starting over', async () => {
    const runDir = join(tmp(), 'run');
    const port = String(await freePort());
    const job = { WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RINGTRAIN_SECRET_FILE: secretFile, RINGTRAIN_JOB_ID: 'job-8' };
    const once = async (steps: string) => {
      const coordinator = start(['coordinator', '--run-dir', runDir, ...TRAIN, '--steps', steps], job);
      const workers = [0, 1].map((rank) => start(['worker'], { ...job, RANK: String(rank) }));
      expect(await coordinator.exited).toBe(0);
      for (const w of workers) expect(await w.exited).toBe(0);
      return coordinator.out();
    };
    await once('6');
    const second = await once('9');
    expect(second).toMatch(/"event":"resumed","step":6/);
    expect(lines(join(runDir, 'metrics.jsonl')).map((l) => JSON.parse(l).step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 300000);

  it.each([
    ['another world size', { WORLD_SIZE: '3' }, /WORLD_SIZE_MISMATCH[\s\S]*world of 3[\s\S]*WORLD_SIZE/],
    ['a stale job id', { RINGTRAIN_JOB_ID: 'job-1' }, /STALE_JOB[\s\S]*job-1[\s\S]*earlier job/],
  ])('a worker with %s is refused with a clear message; the coordinator goes on waiting for the right one', async (_, wrong, message) => {
    const runDir = join(tmp(), 'run');
    const port = String(await freePort());
    const job = { WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RINGTRAIN_SECRET_FILE: secretFile, RINGTRAIN_JOB_ID: 'job-9' };
    const coordinator = start(['coordinator', '--run-dir', runDir, ...TRAIN, '--steps', '2'], job);
    try {
      const bad = start(['worker'], { ...job, ...wrong, RANK: '1' });
      const code = await bad.exited;
      expect(code).not.toBe(0);
      expect(bad.out()).toMatch(message);
      expect(bad.out()).not.toMatch(/\n\s+at /); // no stack trace
      const workers = [0, 1].map((rank) => start(['worker'], { ...job, RANK: String(rank) }));
      expect(await coordinator.exited).toBe(0);
      for (const w of workers) expect(await w.exited).toBe(0);
    } finally {
      coordinator.child.kill('SIGKILL');
    }
  }, 300000);

  it('with TLS (a self-signed certificate made by openssl) every connection is wss://, and the run trains', async () => {
    const dir = tmp();
    const openssl = (...args: string[]) => expect(spawnSync('openssl', args, { encoding: 'utf8' }).status).toBe(0);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=ringtrain-test');
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'other-key.pem'));
    const port = String(await freePort());
    const job = { WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RINGTRAIN_SECRET_FILE: secretFile, RINGTRAIN_TLS_CERT: join(dir, 'cert.pem'), RINGTRAIN_TLS_KEY: join(dir, 'key.pem') };
    const wrongKey = await runCli(['coordinator', '--run-dir', join(dir, 'refused'), ...TRAIN], { ...job, RINGTRAIN_SECRET: '', RINGTRAIN_TLS_KEY: join(dir, 'other-key.pem') });
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toMatch(/TLS_KEY_MISMATCH[\s\S]*cert\.pem[\s\S]*other-key\.pem/);
    expect(existsSync(join(dir, 'refused'))).toBe(false); // refused before the run directory was made

    const runDir = join(dir, 'run');
    const coordinator = start(['coordinator', '--run-dir', runDir, ...TRAIN, '--steps', '2'], job);
    const workers = [0, 1].map((rank) => start(['worker'], { ...job, RANK: String(rank) }));
    try {
      expect(await coordinator.exited).toBe(0);
      for (const w of workers) expect(await w.exited).toBe(0);
      expect(coordinator.out()).toMatch(new RegExp(`"event":"listening","url":"wss://127\\.0\\.0\\.1:${port}/"`));
      expect(lines(join(runDir, 'metrics.jsonl'))).toHaveLength(2);
    } finally {
      for (const p of [coordinator, ...workers]) p.child.kill('SIGKILL');
    }
  }, 300000);

  it('a coordinator port in use, and a coordinator host no node resolves, are said as such', async () => {
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    const port = String((busy.address() as { port: number }).port);
    try {
      const job = { WORLD_SIZE: '2', MASTER_PORT: port, RINGTRAIN_SECRET_FILE: secretFile, RINGTRAIN_SECRET: '' };
      const inUse = await runCli(['coordinator', '--run-dir', join(tmp(), 'run'), ...TRAIN], job);
      expect(inUse.code).not.toBe(0);
      expect(inUse.stderr).toMatch(/PORT_IN_USE[\s\S]*MASTER_PORT/);
      const unresolved = await runCli(['worker', '--connect-timeout-ms', '2000'], { ...job, RANK: '0', MASTER_ADDR: '', SLURM_JOB_NODELIST: 'no-such-node[1-2].invalid', RINGTRAIN_BACKEND: 'native' });
      expect(unresolved.code).not.toBe(0);
      expect(unresolved.stderr).toMatch(/COORDINATOR_UNRESOLVED[\s\S]*no-such-node1\.invalid[\s\S]*MASTER_ADDR/);
      expect(unresolved.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
  });

  it('a secret file others can read is refused, naming the fix', async () => {
    const open = join(tmp(), 'secret');
    writeFileSync(open, 'a-job-secret-anyone-can-read\n');
    chmodSync(open, 0o644);
    const run = await runCli(['worker'], { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1', RINGTRAIN_SECRET: '', RINGTRAIN_SECRET_FILE: open });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/SECRET_FILE_OPEN[\s\S]*chmod 600/);
  });
});
