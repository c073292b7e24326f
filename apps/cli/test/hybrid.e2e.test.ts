import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainCheckCase } from '../src/check/run-train-check';
import { runCli } from './testing/cli';

/**
 * hybrid (Ulysses inside groups of U ranks, a ring across the P/U groups) across real worker
 * processes and real sockets: `check` and `check --train` for P = 4 (2 × 2) and P = 6 (2 groups
 * of 3, 3 groups of 2), every ring layout, causal and not, sequence lengths no P divides, GQA;
 * `train`'s flags; and the refusals of a degree that cannot work.
 */
interface CheckJson {
  ok: boolean;
  cases: Array<{ strategy: string; ulyssesDegree: number; ringLayout: string; workers: number; seqLen: number; causal: boolean; errors: Record<string, { maxRel: number }> }>;
}

function expectExact(stdout: string, want: { workers: number; ulyssesDegree: number; ringLayout: string }): void {
  const report = JSON.parse(stdout) as CheckJson;
  expect(report.ok).toBe(true);
  expect(report.cases).toHaveLength(1);
  expect(report.cases[0]).toMatchObject({ strategy: 'hybrid', ...want });
  for (const t of ['out', 'dq', 'dk', 'dv']) expect(report.cases[0].errors[t].maxRel).toBeLessThan(1e-5);
}

describe('ringtrain check --strategies hybrid', () => {
  it.each([
    // The commands: S = 1001 on 6 workers, 6 query heads over 2 K/V heads.
    [6, 2, 'ring', true, 1001, 6, 2, 16],
    [6, 3, 'ring', true, 1001, 6, 2, 16],
    [4, 2, 'zigzag', true, 61, 4, 2, 8],
    [4, 2, 'striped', false, 61, 4, 1, 8],
    [6, 3, 'zigzag', false, 61, 6, 3, 8],
    [6, 2, 'striped', true, 61, 6, 6, 8],
    [4, 2, 'ring', false, 61, 6, 3, 8], // K/V groups cut through a rank's 3 heads: replicated inside it
  ] as const)('P=%i U=%i ring layout %s causal=%s S=%i heads %i/%i', async (P, U, layout, causal, S, H, Hkv, D) => {
    const run = await runCli([
      'check', '--json', '--strategies', 'hybrid', '--ulysses-degree', String(U), '--ring-layout', layout, '--workers', String(P),
      '--seq-len', String(S), '--heads', String(H), '--kv-heads', String(Hkv), '--head-dim', String(D), causal ? '--causal' : '--no-causal',
    ], {}, 180000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    expectExact(run.stdout, { workers: P, ulyssesDegree: U, ringLayout: layout === 'ring' ? 'contiguous' : layout });
  }, 200000);

  it.each([
    [4, 2, 'zigzag', 'tiny,heads=4,kvHeads=2'],
    [6, 2, 'striped', 'tiny,heads=6,kvHeads=2'],
    [6, 3, 'ring', 'tiny,heads=6,kvHeads=2'],
  ] as const)('--train P=%i U=%i ring layout %s (%s): loss, every gradient and the update match', async (P, U, layout, model) => {
    const run = await runCli(['check', '--train', '--json', '--strategies', 'hybrid', '--ulysses-degree', String(U), '--ring-layout', layout, '--workers', String(P), '--seq-len', '131', '--model', model], {}, 180000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; cases: TrainCheckCase[] };
    expect(report.ok).toBe(true);
    expect(report.cases[0]).toMatchObject({ strategy: 'hybrid', ulyssesDegree: U, workers: P, ok: true });
    expect(report.cases[0].maxGradRelErr).toBeLessThanOrEqual(1e-5);
  }, 200000);

  it.each([
    ['a degree that does not divide the workers', ['--ulysses-degree', '4'], /\[HYBRID_DEGREE\] --ulysses-degree 4 does not divide --workers 6[\s\S]*hint: use --ulysses-degree 3 \(the degrees that divide both --workers 6 and --heads 6: 1, 2, 3, 6\)/],
    ['a ring of R = 0 groups', ['--ulysses-degree', '12'], /--ulysses-degree 12 is more than --workers 6: .*R = 6\/12 = 0 groups[\s\S]*hint: use --ulysses-degree 6 /],
    ['a degree of 0', ['--ulysses-degree', '0'], /--ulysses-degree 0 must be a positive integer[\s\S]*hint: use --ulysses-degree 1 /],
    ['a degree that does not divide the heads', ['--ulysses-degree', '3', '--heads', '4'], /\[ULYSSES_HEADS\] .*--heads 4 does not divide by --ulysses-degree 3[\s\S]*hint: use --ulysses-degree 2 \(.*: 1, 2\)/],
    ['an unknown ring layout', ['--ring-layout', 'spiral'], /--ring-layout "spiral" is not a ring layout[\s\S]*ring \(contiguous\), striped, zigzag/],
  ])('refuses %s with exit 2', async (_what, args, message) => {
    const run = await runCli(['check', '--strategies', 'hybrid', '--workers', '6', '--seq-len', '64', '--heads', '6', '--kv-heads', '2', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('refuses --ulysses-degree without hybrid', async () => {
    const run = await runCli(['check', '--strategies', 'ring', '--ulysses-degree', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--ulysses-degree 2 only applies to the hybrid strategy/);
  });
});

describe('ringtrain train --strategy hybrid', () => {
  it('trains with the degree and ring layout it was given, and records them', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ringtrain-hybrid-')), 'run');
    const run = await runCli(['train', '--strategy', 'hybrid', '--ulysses-degree', '2', '--ring-layout', 'zigzag', '--workers', '4', '--seq-len', '130', '--steps', '2', '--model', 'tiny', '--eval-samples', '2', '--no-dashboard', '--run-dir', dir], {}, 180000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/step 2\/2/);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toMatchObject({ strategy: 'hybrid', ulyssesDegree: 2, ringLayout: 'zigzag' });
  }, 200000);

  it('refuses a degree the model\'s heads do not split into, naming the key and the degrees that work', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ringtrain-hybrid-')), 'run');
    const run = await runCli(['train', '--strategy', 'hybrid', '--ulysses-degree', '3', '--workers', '6', '--model', 'tiny', '--run-dir', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/model heads 2 does not divide by ulyssesDegree 3[\s\S]*use ulyssesDegree 2 /);
  });
});
