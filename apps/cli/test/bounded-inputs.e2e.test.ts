import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRAIN_DEFAULTS, estimateRunMemory, modelParamCount, resolveModel, resolveTrainConfig } from '@ringtrain/config';
import { countParams } from '@ringtrain/worker';
import { CLI, runCli } from './testing/cli';

/**
 * Sizes that cannot fit, and run directories that cannot be used, are refused in well under a
 * second, before any process starts or anything is created, with a coded error that names the
 * problem and the fix (exit 2); failures after the start exit 3.
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-bounded-'));

/** A stand-in for the CLI in child processes (RINGTRAIN_CLI): it only records that it was started. */
function startRecorder(): { env: Record<string, string>; started: () => boolean } {
  const dir = tmp();
  const script = join(dir, 'record.cjs');
  const marker = join(dir, 'started');
  writeFileSync(script, `require('node:fs').appendFileSync(${JSON.stringify(marker)}, process.argv.slice(2).join(' ') + '\\n'); process.exit(1);\n`);
  return { env: { RINGTRAIN_CLI: script }, started: () => existsSync(marker) };
}

const noStack = (stderr: string) => {
  expect(stderr).not.toMatch(/internal error|^\s+at /m);
};

describe('sizes that cannot fit are refused before any process starts', () => {
  it.each<[string, string[], RegExp]>([
    ['a sequence of 10^12 tokens', ['--seq-len', '1000000000000'], /\[WONT_FIT\] seqLen 1000000000000 is beyond the 2147483648 tokens a sequence can hold .*about [\d.,]+ [KMGTPE]iB per worker .*this machine has [\d.]+ GiB of memory[\s\S]*hint: .*--seq-len \d+/],
    ['a batch of a million sequences', ['--batch-size', '1000000'], /\[WONT_FIT\] train at seq-len 1024 × batch 1000000 .* needs about [\d.,]+ [KMGTPE]iB per worker \(.*activations .*\), but this machine has [\d.]+ GiB of memory[\s\S]*hint: .*--batch-size \d+/],
    ['a model of 10^9 layers', ['--model', 'tiny,layers=1000000000'], /\[BAD_MODEL\] model layers 1000000000 is above the limit of 4096[\s\S]*hint: set model.layers to at most 4096/],
    ['a model too large for the machine', ['--model', 'small,dModel=16384,layers=64'], /\[WONT_FIT\] .*parameters and optimizer state [\d.]+ [KMGTPE]iB/],
    ['a hundred thousand workers', ['--workers', '100000', '--seq-len', '1000000'], /\[BAD_CONFIG\] workers 100000 is more than 4096, the most ringtrain runs/],
    ['a sequence no worker can hold with rsa', ['--strategy', 'rsa', '--seq-len', '10000000'], /\[WONT_FIT\] train at seq-len 10000000 .* rsa workers\) needs about [\d.,]+ [KMGTPE]iB per worker/],
  ])('train: %s', async (_name, args, message) => {
    const runDir = join(tmp(), 'run');
    const recorder = startRecorder();
    const t0 = Date.now();
    const run = await runCli(['train', ...args, '--run-dir', runDir], recorder.env, 30000);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(Date.now() - t0).toBeLessThan(10000);
    noStack(run.stderr);
    expect(run.stdout).toBe('');
    expect(recorder.started()).toBe(false); // no coordinator, no worker
    expect(existsSync(runDir)).toBe(false); // nothing created
  });

  it.each<[string, string[], RegExp]>([
    ['check at 10^12 tokens', ['check', '--seq-len', '1000000000000'], /\[WONT_FIT\] check at seq-len 1000000000000 .*more than the 2147483648 tokens/],
    ['check at 10^8 tokens', ['check', '--seq-len', '100000000', '--strategies', 'ring'], /\[WONT_FIT\] check at seq-len 100000000 .*needs about .* per worker .*this machine has [\d.]+ GiB of memory[\s\S]*hint: .*--seq-len \d+/],
    ['check --train at 10^6 tokens (the reference keeps S×S scores)', ['check', '--train', '--seq-len', '1000000', '--strategies', 'ring'], /\[WONT_FIT\] check --train at seq-len 1000000 × batch 2 .*single-process reference step/],
    ['rsa in a check the others fit', ['check', '--seq-len', '2000000', '--strategies', 'ring,rsa'], /hint: .*leave rsa .* out: --strategies ring/],
    ['check --dump under /proc (where mkdir -p never returns)', ['check', '--seq-len', '64', '--dump', '/proc/x'], /\[BAD_OPTION\] dump directory \/proc\/x is under \/proc, a file system of the kernel[\s\S]*hint: pass --dump with a directory on a disk/],
    ['bench train at 10^8 tokens', ['bench', 'train', '--seq-len', '100000000'], /\[WONT_FIT\] bench train at seq-len 100000000 × batch 1 .*per worker/],
  ])('%s', async (_name, args, message) => {
    const recorder = startRecorder();
    const run = await runCli(args, recorder.env, 30000);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(recorder.started()).toBe(false);
  });

  it('eval and resume refuse sizes their run cannot fit, naming the options they take', async () => {
    const runDir = join(tmp(), 'run');
    mkdirSync(runDir);
    const cfg = resolveTrainConfig({ seqLen: 100_000_000 }, {}, runDir);
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(cfg));
    writeFileSync(join(runDir, 'model.safetensors'), ''); // never read: the sizes are refused first
    const recorder = startRecorder();
    const evaluated = await runCli(['eval', '--run-dir', runDir, '--seq-len', '1024', '--batch-size', '1000000'], recorder.env, 30000);
    expect(evaluated.stderr).toMatch(/\[WONT_FIT\] eval at seq-len 1024 × batch 1000000 .*per worker[\s\S]*hint: .*--batch-size \d+/);
    expect(evaluated.code).toBe(2);
    const resumed = await runCli(['resume', runDir], recorder.env, 30000);
    expect(resumed.stderr).toMatch(/\[WONT_FIT\] resume at seq-len 100000000 × batch 1 .*per worker/);
    expect(resumed.stderr).not.toMatch(/--seq-len/); // resume cannot change it
    expect(resumed.code).toBe(2);
    for (const r of [evaluated, resumed]) noStack(r.stderr);
    expect(recorder.started()).toBe(false);
  });
});

describe('the memory estimate', () => {
  it('counts exactly the parameters the workers build', () => {
    for (const spec of ['tiny', 'passkey', 'small', 'small,kvHeads=1,mlpRatio=3', 'dModel=48,layers=3,heads=6,kvHeads=2,headDim=8,prevTokenEmbed=2']) {
      const model = resolveModel(spec);
      expect(modelParamCount(model)).toBe(countParams(model));
    }
  });

  it('fits the default run on this machine', () => {
    const cfg = resolveTrainConfig({}, {}, 'runs/x');
    expect(cfg.seqLen).toBe(TRAIN_DEFAULTS.seqLen);
    expect(estimateRunMemory(cfg).perWorkerBytes).toBeLessThan(2 ** 30);
  });
});

describe('run directories that cannot be used are coded errors naming the path', () => {
  it.each<[string, (dir: string) => string[], RegExp]>([
    ['runDir: 5 in a YAML config', (dir) => {
      writeFileSync(join(dir, 'c.yaml'), 'runDir: 5\nsteps: 1\n');
      return ['--config', join(dir, 'c.yaml')];
    }, /\[BAD_CONFIG\] runDir 5 must be a string path[\s\S]*hint: set runDir to a directory/],
    ['a file in the way', (dir) => {
      writeFileSync(join(dir, 'some-file'), 'x');
      return ['--run-dir', join(dir, 'some-file')];
    }, /\[RUN_DIR_UNUSABLE\] run directory .*some-file is a file, not a directory[\s\S]*hint: /],
    ['a file as a parent', (dir) => {
      writeFileSync(join(dir, 'some-file'), 'x');
      return ['--run-dir', join(dir, 'some-file', 'run')];
    }, /\[RUN_DIR_UNUSABLE\] cannot create the run directory .*some-file\/run: .*some-file is a file, not a directory/],
    ['a path under /proc', () => ['--run-dir', '/proc/x'], /\[RUN_DIR_UNUSABLE\] run directory \/proc\/x is under \/proc, a file system of the kernel, not a disk[\s\S]*hint: pass --run-dir with a directory on a disk/],
    ['a path under /sys', () => ['--run-dir', '/sys/x/run'], /\[RUN_DIR_UNUSABLE\] run directory \/sys\/x\/run is under \/sys/],
    ['a config file that is a directory', (dir) => ['--config', dir], /\[CONFIG_UNREADABLE\] config file .* is a directory/],
  ])('%s', async (_name, args, message) => {
    const recorder = startRecorder();
    const t0 = Date.now();
    const run = await runCli(['train', '--steps', '1', '--seq-len', '128', ...args(tmp())], recorder.env, 30000);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(Date.now() - t0).toBeLessThan(10000);
    noStack(run.stderr);
    expect(recorder.started()).toBe(false);
  });

  // Root may write anywhere: permissions are tried as the unprivileged user `nobody`.
  const asNobody = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  (asNobody ? it : it.skip)('no permission: a parent that is not writable, a directory that is not writable or not readable', () => {
    const root = tmp();
    chmodSync(root, 0o755);
    const locked = join(root, 'locked');
    mkdirSync(locked, 0o555);
    const unwritable = join(root, 'unwritable');
    mkdirSync(unwritable, 0o555);
    const unreadable = join(root, 'unreadable');
    mkdirSync(unreadable);
    chmodSync(unreadable, 0o333);
    const cases: Array<[string, RegExp]> = [
      [join(locked, 'run'), /\[RUN_DIR_UNUSABLE\] cannot create the run directory .*locked\/run: EACCES[\s\S]*hint: this user may not read or write there/],
      [unwritable, /\[RUN_DIR_UNUSABLE\] cannot lock the run directory .*unwritable: EACCES[\s\S]*hint: this user may not read or write there/],
      [unreadable, /\[RUN_DIR_UNUSABLE\] cannot read the run directory .*unreadable: EACCES[\s\S]*hint: this user may not read or write there/],
    ];
    for (const [runDir, message] of cases) {
      const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'train', '--steps', '1', '--seq-len', '128', '--run-dir', runDir], { encoding: 'utf8', env: { ...process.env, HOME: root }, timeout: 30000 });
      expect(run.stderr).toMatch(message);
      expect(run.status).toBe(2);
      noStack(run.stderr);
    }
  });
});

describe('a failure after the start exits 3', () => {
  it('train whose coordinator cannot start', async () => {
    const run = await runCli(['train', '--steps', '1', '--seq-len', '128', '--run-dir', join(tmp(), 'run')], { RINGTRAIN_CLI: '/nonexistent/ringtrain.cjs' }, 60000);
    expect(run.stderr).toMatch(/\[TRAINING_FAILED\] the coordinator exited with code 1/);
    expect(run.code).toBe(3);
    noStack(run.stderr.replace(/last output:[\s\S]*/, '')); // the dead coordinator's own output is quoted as it was
  });
});
