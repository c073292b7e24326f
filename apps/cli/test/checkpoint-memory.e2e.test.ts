import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/**
 * Saving does not leak (asynchronous saves held on to their state in other projects): 80
 * checkpoints of ~10 MB each, one per step, and the coordinator's resident set stays within a
 * band (a leaked state per save would add ~800 MB).
 */
it('80 saves of a 10 MB state: the coordinator\'s memory stays flat', async () => {
  const runDir = join(mkdtempSync(join(tmpdir(), 'ringtrain-saves-')), 'run');
  const run = await runCli(['train', '--workers', '2', '--seq-len', '128', '--steps', '80', '--model', 'tiny,dModel=128,layers=4,heads=4,kvHeads=4,headDim=32', '--checkpoint-every', '1', '--keep-last', '2', '--eval-samples', '1', '--run-dir', runDir], {}, 300000);
  expect(run.code).toBe(0);
  const records = readFileSync(join(runDir, 'checkpoints.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { bytes: number; rssBytes: number });
  expect(records).toHaveLength(80);
  const written = records.reduce((a, r) => a + r.bytes, 0);
  expect(written).toBeGreaterThan(700 * 2 ** 20);
  const rss = records.map((r) => r.rssBytes);
  expect(Math.max(...rss) - Math.min(...rss)).toBeLessThan(150 * 2 ** 20);
}, 300000);
