import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/**
 * A full disk during training, on a real 600 KiB tmpfs (where this machine lets the test mount
 * one; coordinator/src/checkpoint/full-disk.test.ts injects the same failure everywhere): the
 * saves that no longer fit fail with a message naming ENOSPC, the run ends with that error, and
 * the checkpoints committed before are intact.
 */
const mountPoint = mkdtempSync(join(tmpdir(), 'ringtrain-tmpfs-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=600k', 'tmpfs', mountPoint]).status === 0;

afterAll(() => {
  if (mounted) spawnSync('umount', [mountPoint]);
});

(mounted ? it : it.skip)('a full disk: a clear error naming ENOSPC, the earlier checkpoints intact and verified', async () => {
  const runDir = join(mountPoint, 'run');
  const run = await runCli(['train', '--workers', '2', '--seq-len', '128', '--steps', '12', '--model', 'tiny', '--checkpoint-every', '2', '--keep-last', '0', '--eval-samples', '1', '--run-dir', runDir], {}, 120000);
  expect(run.code).toBe(3); // failed after starting
  // Whichever write meets the full disk first — a checkpoint file or a line of metrics — the run
  // ends with a coded error that names ENOSPC and says what to do.
  expect(run.stderr).toMatch(/\[(CHECKPOINT_WRITE_FAILED|RUN_DIR_UNUSABLE)\] .*ENOSPC[\s\S]*hint: the disk is full/);
  expect(run.stderr).not.toMatch(/internal error|^\s+at /m);
  const left = readdirSync(join(runDir, 'checkpoints'));
  expect(left.filter((d) => d.endsWith('.tmp'))).toEqual([]);
  const verified = await runCli(['checkpoint', 'verify', runDir], {}, 60000);
  expect(verified.code).toBe(0);
  expect(left.filter((d) => d.startsWith('step-')).length).toBeGreaterThan(0);
  execFileSync('rm', ['-rf', runDir]);
}, 120000);
