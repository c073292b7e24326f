import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainCheckCase } from '../src/check/run-train-check';
import { runCli } from './testing/cli';

/**
 * Document masking from the user's side: `check` with packed documents against the
 * single-process reference under the block-diagonal causal mask, on real worker processes.
 */
interface CheckJson {
  ok: boolean;
  cases: Array<{ strategy: string; ok: boolean; documents: number; attentionFlopsPerRank: number[] }>;
}

describe('ringtrain check with documents', () => {
  it('--docs 7: every strategy at P=3, odd length, GQA, matches; per-rank attention FLOPs reported', async () => {
    const strategies = ['ring', 'striped', 'zigzag', 'ulysses', 'rsa'];
    const run = await runCli(['check', '--strategies', strategies.join(','), '--workers', '3', '--seq-len', '1001', '--heads', '6', '--kv-heads', '3', '--head-dim', '16', '--docs', '7', '--json'], {}, 300000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CheckJson;
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.strategy)).toEqual(strategies);
    for (const c of report.cases) {
      expect(c.documents).toBe(7);
      expect(c.attentionFlopsPerRank).toHaveLength(3);
      // Fewer than the causal count without documents: the mask removed work.
      const total = c.attentionFlopsPerRank.reduce((a, b) => a + b, 0);
      expect(total).toBeLessThan(4 * 16 * 6 * (1001 * 1002) / 2);
    }
  }, 320000);

  it.each([
    ['a one-token document first, one spanning every rank', '1,98,1'],
    ['a one-token document at a shard boundary', '33,1,66'],
    ['every token its own document', Array.from({ length: 100 }, () => '1').join(',')],
  ])('--doc-lens: %s', async (_name, lens) => {
    const run = await runCli(['check', '--strategies', 'ring,striped,zigzag,ulysses,rsa', '--workers', '3', '--seq-len', '100', '--heads', '3', '--head-dim', '8', '--doc-lens', lens, '--json'], {}, 200000);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CheckJson;
    expect(report.ok).toBe(true);
    expect(report.cases.every((c) => c.ok)).toBe(true);
  }, 220000);

  it('not causal, with documents: attention stays within documents both ways', async () => {
    const run = await runCli(['check', '--strategies', 'ring,ulysses', '--workers', '2', '--seq-len', '61', '--heads', '2', '--head-dim', '8', '--no-causal', '--doc-lens', '20,1,40', '--json'], {}, 120000);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as CheckJson).ok).toBe(true);
  }, 150000);

  it('--dump adds doc.npy (int32 [seq], each position\'s document) and "docMask": true', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-docdump-'));
    try {
      const run = await runCli(['check', '--workers', '2', '--seq-len', '9', '--heads', '2', '--head-dim', '4', '--strategies', 'striped', '--doc-lens', '4,5', '--dump', dir]);
      expect(run.code).toBe(0);
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
      expect(meta).toMatchObject({ docMask: true, docLens: [4, 5] });
      // Read by NumPy itself, as a user would.
      const out = execFileSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(join(dir, 'doc.npy'))}); print(a.dtype, a.shape, a.tolist())`], { encoding: 'utf8' });
      expect(out.trim()).toBe('int32 (9,) [0, 0, 0, 0, 1, 1, 1, 1, 1]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['lengths that do not sum to the sequence', ['--doc-lens', '3,4'], /--doc-lens "3,4" is not valid: lengths that sum to --seq-len 9 \(these sum to 7\)/],
    ['a zero-length document', ['--doc-lens', '4,0,5'], /--doc-lens "4,0,5" is not valid: a comma list of document lengths of at least 1 token each/],
    ['--docs larger than the sequence', ['--docs', '10'], /--docs "10" is not valid: a number of documents from 1 to --seq-len 9/],
    ['both --docs and --doc-lens', ['--docs', '2', '--doc-lens', '4,5'], /--docs and --doc-lens both given/],
  ])('bad input: %s exits 2 naming the option, the value and what would work', async (_name, args, message) => {
    const run = await runCli(['check', '--workers', '2', '--seq-len', '9', '--strategies', 'ring', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at .*\.(c?js|ts):\d+/);
  });
});

describe('ringtrain check --train with documents', () => {
  it.each([
    [2, ['ring', 'striped', 'zigzag', 'ulysses'], 'global'],
    [3, ['ring', 'striped', 'zigzag', 'ulysses'], 'per-document'],
  ] as const)('P=%i %j: a training step on packed documents equals the single-process step (positions %s)', async (P, strategies, positions) => {
    const run = await runCli(['check', '--train', '--json', '--workers', String(P), '--seq-len', '127', '--model', 'tiny,heads=12,kvHeads=6', '--docs', '5', '--positions', positions, '--strategies', strategies.join(',')], {}, 300000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: TrainCheckCase[] };
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.strategy)).toEqual([...strategies]);
    for (const c of report.cases) expect(c.maxGradRelErr).toBeLessThanOrEqual(1e-5);
  }, 320000);
});
