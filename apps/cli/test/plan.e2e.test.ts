import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/** `ringtrain plan` as a user runs it: the ranked plan, where its figures came from, and every refusal exit 2 with the fix. */
const gqa = ['--heads', '32', '--kv-heads', '8', '--head-dim', '128'];
const given = ['--link-gbps', '100', '--link-latency-us', '10', '--tflops', '200'];

describe('ringtrain plan', () => {
  it('ranks every strategy and hybrid degree on the given figures (--json)', async () => {
    const run = await runCli(['plan', '--workers', '8', '--seq-len', '128K', ...gqa, ...given, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.winner).toEqual({ strategy: 'striped', label: 'striped' });
    expect(r.rows.map((x: { label: string }) => x.label).sort()).toEqual(['hybrid U=2 striped', 'hybrid U=4 striped', 'ring', 'rsa', 'striped', 'ulysses', 'zigzag']);
    expect(r.calibration).toMatchObject({ flopsPerSec: 2e14, flopsSource: 'given with --tflops', link: { bytesPerSec: 12.5e9, latencySec: 1e-5 } });
    for (const row of r.rows) {
      expect(row.stepMs).toBeGreaterThan(0);
      expect(row.memoryPerRankBytes).toBeGreaterThan(0);
      if (row.label !== 'striped') expect(row.why).toEqual(expect.any(String));
    }
    expect(r.rows.find((x: { label: string }) => x.label === 'rsa')).toMatchObject({ fits: false, why: expect.stringMatching(/^stores 256 GiB of probabilities per rank/) });
  });

  it('calibrates on this machine by default: the kernel measured now, the link bench attention recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plan-'));
    const file = join(dir, 'calibration.json');
    writeFileSync(file, JSON.stringify({ link: { bytesPerSec: 6e8, measuredAt: '2026-12-05T12:00:00.000Z', by: 'ringtrain bench attention' } }));
    const run = await runCli(['plan', '--workers', '2', '--seq-len', '2048', '--heads', '2', '--head-dim', '64'], { RINGTRAIN_CALIBRATION_FILE: file });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/kernel [\d.]+ GFLOP\/s per rank: measured now: the (native|tfjs) kernel .* one 1024-token block, 2 head\(s\) of 64, causal/);
    expect(run.stdout).toMatch(/link this machine's ws\+msgpack: 0\.60 GB\/s per rank, 0\.0 µs per message: measured by `ringtrain bench attention` at 2026-12-05T12:00:00\.000Z/);
    expect(run.stdout).toMatch(/^winner: /m);
    const none = await runCli(['plan', '--workers', '2', '--seq-len', '2048', '--heads', '2', '--head-dim', '64', '--tflops', '1'], { RINGTRAIN_CALIBRATION_FILE: join(dir, 'missing.json') });
    expect(none.stdout).toMatch(/the ethernet-100g preset: no link measured on this machine yet/);
  });

  it.each([
    [['--workers', '6', '--seq-len', '4096', '--heads', '8', '--head-dim', '64', '--ulysses-degree', '4'], /\[HYBRID_DEGREE\] --ulysses-degree 4 does not divide --workers 6[^]*hint: use --ulysses-degree 2 \(the degrees that divide both --workers 6 and --heads 8: 1, 2\)/],
    [['--workers', '8', '--seq-len', '4096', '--heads', '8', '--head-dim', '64', '--ulysses-degree', '16'], /--ulysses-degree 16 is more than --workers 8: .* R = 8\/16 = 0 groups[^]*hint: use --ulysses-degree 8/],
    [['--workers', '8', '--seq-len', '4', '--heads', '8', '--head-dim', '64'], /\[SEQ_TOO_SHORT\] --seq-len 4 is shorter than --workers 8[^]*--seq-len 8 or more/],
    [['--workers', '8', '--seq-len', '4096', '--heads', '32', '--kv-heads', '7', '--head-dim', '64'], /--kv-heads 7 does not divide --heads 32[^]*use --kv-heads 8 \(the divisors of 32: 1, 2, 4, 8, 16, 32\)/],
    [['--workers', '8', '--seq-len', '1M', ...gqa, '--memory-gib', '1'], /\[WONT_FIT\] no strategy fits --seq-len 1048576 on --workers 8 in 1\.0 GiB per rank[^]*hint: the nearest that fit, changing one at a time: --seq-len \d+, --workers 256/],
  ])('refuses %j with exit 2, naming the option, the value and what works', async (args, message) => {
    const run = await runCli(['plan', ...args, '--tflops', '200', '--link-gbps', '100']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  });
});

describe('ringtrain train --strategy auto', () => {
  it('plans once before the run, logs the choice and the runner-up, and writes the concrete strategy in config.json; resume keeps it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'plan-auto-')), 'run');
    const env = { RINGTRAIN_CALIBRATION_FILE: join(dir, '..', 'missing.json') };
    const args = ['--workers', '2', '--strategy', 'auto', '--seq-len', '128', '--steps', '2', '--model', 'tiny', '--eval-samples', '2', '--no-dashboard', '--run-dir', dir];
    const run = await runCli(['train', ...args], env, 300000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const line = /^strategy auto → (\S+)[^:\n]*: predicted .* per attention layer forward \+ backward .*; runner-up \S+.*$/m.exec(run.stdout);
    expect(line).not.toBeNull();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(['ring', 'striped', 'zigzag', 'ulysses', 'rsa', 'hybrid']).toContain(cfg.strategy);
    expect(cfg.strategy).toBe(line![1]);
    const again = await runCli(['train', ...args, '--steps', '3', '--resume'], env, 300000);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^strategy auto → ${cfg.strategy}: kept from .*config\\.json \\(a resumed run is not planned again\\)$`, 'm'));
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).strategy).toBe(cfg.strategy);
  });
});

describe('ringtrain bench attention, the model beside the measurement', () => {
  it('predicts each strategy (hybrid too) on the run\'s own kernel and link, and records the link for plan', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'plan-bench-')), 'calibration.json');
    const run = await runCli(['bench', 'attention', '--workers', '2', '--seq-len', '128', '--heads', '2', '--strategies', 'striped,hybrid', '--ulysses-degree', '2', '--reps', '1', '--warmup', '0', '--transport-mib', '8', '--json'], { RINGTRAIN_CALIBRATION_FILE: file });
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.strategies.map((s: { name: string }) => s.name)).toEqual(['striped', 'hybrid']);
    for (const s of r.strategies) {
      expect(s.predictedMs).toBeGreaterThan(0);
      expect(s.predictionError).toBeCloseTo((s.predictedMs - s.wallMs) / s.wallMs, 2);
    }
    const recorded = JSON.parse(readFileSync(file, 'utf8')).link;
    expect(Math.abs(recorded.bytesPerSec / r.transport.wsMsgpackBytesPerSec - 1)).toBeLessThan(1e-3); // the JSON rounds to 4 digits
    expect(recorded.by).toBe('ringtrain bench attention');
    const text = await runCli(['bench', 'attention', '--workers', '2', '--seq-len', '128', '--strategies', 'ring', '--reps', '1', '--warmup', '0', '--transport-mib', '0']);
    expect(text.stdout).toMatch(/^strategy\s+wall ms\s+predicted\s+error/m);
    expect(text.stdout).toMatch(/^ring\s+[\d.]+\s+-\s+-/m); // no link measured: no prediction
  });
});
