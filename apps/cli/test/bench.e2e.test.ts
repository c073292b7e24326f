import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/**
 * `ringtrain bench` end to end on tiny sizes: every promised JSON field is there with a sane
 * value. No timing is asserted (the machines are shared and noisy).
 */
const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describe('ringtrain bench', () => {
  it('attention: real workers, every runnable strategy, transport beside raw TCP', async () => {
    // the measured link is recorded for `plan`: into a file of the test's own, not the user's cache
    const run = await runCli(['bench', 'attention', '--workers', '2', '--seq-len', '64', '--reps', '1', '--warmup', '0', '--json'], { RINGTRAIN_CALIBRATION_FILE: join(mkdtempSync(join(tmpdir(), 'bench-')), 'calibration.json') });
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    const names = r.strategies.map((s: { name: string }) => s.name);
    expect(names).toEqual(['ring', 'striped', 'zigzag', 'rsa']);
    expect(r.skipped).toEqual([{ name: 'ulysses', reason: expect.stringMatching(/--heads 1 does not divide by --workers 2/) }]);
    for (const s of r.strategies) {
      expect(positive(s.wallMs)).toBe(true);
      expect(positive(s.efficiency)).toBe(true);
      expect(positive(s.speedupVsRing)).toBe(true);
      expect(positive(s.efficiencyAllBusy)).toBe(true);
      expect(s.exposedCommFraction).toBeGreaterThanOrEqual(0);
      expect(s.exposedCommFraction).toBeLessThanOrEqual(1);
      // every ring-family rank sends its K/V once forward, once backward, and dK/dV once (P = 2)
      expect(s.bytesPerRank).toBeGreaterThanOrEqual(4 * 32 * 64 * 4);
      expect(s.ranks).toHaveLength(2);
      for (const k of s.ranks) {
        expect(k.computeMs + k.waitMs).toBeCloseTo(k.wallMs, 0);
        expect(k.bytesSent).toBeGreaterThan(0);
      }
    }
    expect(r.strategies[0].speedupVsRing).toBe(1);
    expect(positive(r.transport.wsMsgpackBytesPerSec)).toBe(true);
    expect(positive(r.transport.rawTcpBytesPerSec)).toBe(true);
    expect(positive(r.transport.rawTcpIntoMessagesBytesPerSec)).toBe(true);
    expect(r.transport.ratioIntoMessages).toBeCloseTo(r.transport.wsMsgpackBytesPerSec / r.transport.rawTcpIntoMessagesBytesPerSec, 2);
    expect(r.transport.volumeBytes).toBe(256 * 2 ** 20);
    const share = (x: unknown) => typeof x === 'number' && x >= 0 && x <= 1;
    expect(r.transport.directions).toHaveLength(2);
    for (const d of r.transport.directions) {
      for (const g of [d.gcShare.ws, d.gcShare.tcp]) expect(share(g.sender) && share(g.receiver)).toBe(true);
    }
    expect(positive(r.singleProcess.wallMs)).toBe(true);
    expect(positive(r.singleProcess.allBusyWallMs)).toBe(true);
    expect(r.config).toMatchObject({ workers: 2, seqLen: 64, heads: 1, headDim: 64, causal: true, reps: 1, warmup: 0, threadsPerWorker: expect.any(Number) });
    expect(['native', 'tfjs']).toContain(r.kernel.name);
    expect(r.simulation).toBeNull();
  });

  it('attention --docs: every strategy also on packed documents, side by side, with the work the mask leaves', async () => {
    const run = await runCli(['bench', 'attention', '--workers', '2', '--seq-len', '96', '--strategies', 'ring,striped', '--docs', '3', '--reps', '1', '--warmup', '0', '--transport-mib', '0', '--json']);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout) as { documents: { count: number; lens: number[]; workRatio: number }; strategies: Array<{ name: string; wallMs: number; withDocs: { wallMs: number; speedup: number } }> };
    expect(r.documents.count).toBe(3);
    expect(r.documents.lens.reduce((a, b) => a + b, 0)).toBe(96);
    expect(r.documents.workRatio).toBeGreaterThan(0);
    expect(r.documents.workRatio).toBeLessThan(1);
    for (const s of r.strategies) {
      expect(s.withDocs.wallMs).toBeGreaterThan(0);
      expect(s.withDocs.speedup).toBeCloseTo(s.wallMs / s.withDocs.wallMs, 1);
    }
  });

  it('attention --simulate --gflops projects every strategy without starting workers', async () => {
    const run = await runCli(['bench', 'attention', '--simulate', '--gflops', '50', '--heads', '8', '--link', 'nvlink', '--sim-workers', '8,16', '--sim-seq-lens', '32K', '--json']);
    expect(run.code).toBe(0);
    const sim = JSON.parse(run.stdout).simulation;
    expect(sim.flopsPerSec).toBe(50e9);
    expect(sim.links.map((l: { name: string }) => l.name)).toEqual(['nvlink']);
    expect(sim.rows).toHaveLength(5 * 2); // 5 strategies × 2 world sizes × 1 length
    const ulysses16 = sim.rows.find((x: { strategy: string; workers: number }) => x.strategy === 'ulysses' && x.workers === 16);
    expect(ulysses16).toMatchObject({ feasible: false, reason: expect.stringMatching(/heads divisible/) });
    for (const row of sim.rows.filter((x: { feasible: boolean }) => x.feasible)) {
      expect(positive(row.stepMs)).toBe(true);
      expect(row.efficiency).toBeGreaterThan(0);
      expect(row.efficiency).toBeLessThanOrEqual(1.0001);
    }
    expect(sim.hiddenFrom.find((h: { strategy: string }) => h.strategy === 'ulysses').tokensPerRank).toBeNull();
  });

  it('kernels --blocks: every block of a P = 2 step against the full one', async () => {
    const run = await runCli(['bench', 'kernels', '--blocks', '--seq-lens', '300', '--heads', '2', '--head-dim', '16', '--reps', '1', '--warmup', '0', '--json']);
    expect(run.stderr).not.toMatch(/internal error/);
    if (run.code !== 0) {
      expect(run.stderr).toMatch(/needs the native kernel/); // no addon on this machine
      return;
    }
    const r = JSON.parse(run.stdout);
    expect(r.sizes).toHaveLength(1);
    const { seqLen, block, cases } = r.sizes[0];
    expect([seqLen, block]).toEqual([300, 150]);
    expect(cases.map((c: { name: string }) => c.name)).toEqual([
      'full (ring 1 <- 0)',
      'ring diagonal (0 <- 0)',
      'striped diagonal (0 <- 0)',
      'striped 0 <- 1 (keys strictly before)',
      'striped 1 <- 0 (keys at or before)',
      'zigzag diagonal (0 <- 0)',
      'zigzag 0 <- 1',
      'zigzag 1 <- 0',
    ]);
    expect(cases[0]).toMatchObject({ work: 1, costMin: 1, costMedian: 1 });
    for (const c of cases) {
      expect([c.fwdMs, c.bwdMs, c.costMin, c.costMedian].every(positive)).toBe(true);
      expect(c.work).toBeGreaterThan(0.45);
      expect(c.work).toBeLessThanOrEqual(1);
    }
  });

  it('kernels: sgemm limit and every kernel at a tiny size', async () => {
    const run = await runCli(['bench', 'kernels', '--seq-lens', '64', '--reps', '1', '--warmup', '0', '--sgemm-size', '256', '--json']);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.flopModel).toMatch(/14·Sq·Sk·D·H/);
    const names = r.kernels.map((k: { name: string }) => k.name);
    expect(names).toEqual(expect.arrayContaining(['tfjs', 'reference']));
    for (const k of r.kernels) {
      expect(k).toMatchObject({ seqLen: 64, headDim: 64 });
      expect(positive(k.gflops)).toBe(true);
    }
    if (r.native.loaded) {
      expect(positive(r.sgemmGflops)).toBe(true);
      expect(names).toContain('native');
      for (const k of r.kernels) expect(positive(k.ratioToSgemm)).toBe(true);
    } else {
      expect(r.sgemmGflops).toBeNull();
      expect(r.native.reason).toEqual(expect.any(String));
    }
  });

  it('train: real workers, tokens/s, model FLOP/s against sgemm, each worker\'s peak memory', async () => {
    const run = await runCli(['bench', 'train', '--model', 'tiny', '--workers', '2', '--seq-len', '128', '--steps', '2', '--warmup', '0', '--json']);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(positive(r.tokensPerSec)).toBe(true);
    expect(positive(r.modelGflops)).toBe(true);
    expect(r.stepMs).toHaveLength(2);
    expect(r.peakRssBytesPerWorker).toHaveLength(2);
    for (const b of r.peakRssBytesPerWorker) expect(b).toBeGreaterThan(20 * 2 ** 20);
    expect(r.config).toMatchObject({ workers: 2, seqLen: 128, batchSize: 1 });
    if (r.sgemmGflops === null) {
      expect(r.ratio).toBeNull();
      expect(r.ratioVsBestSgemm).toBeNull();
    } else {
      // each timed step is paired with the better sgemm on either side of it; the ratio is the median pair
      expect(r.sgemmGflopsPerStep).toHaveLength(2);
      const [s0, s1] = r.sgemmGflopsPerStep;
      const around = [Math.max(s0, s1), Math.max(s1, r.sgemmGflopsAfter)];
      const pairs = r.stepMs.map((ms: number, i: number) => r.flopsPerStep / (ms / 1000) / 1e9 / around[i]);
      expect(r.ratio).toBeCloseTo((pairs[0] + pairs[1]) / 2, 12);
      expect(r.sgemmGflops).toBeCloseTo((around[0] + around[1]) / 2, 9);
      // the pessimistic reading: the median step against the best sgemm of the run
      const best = Math.max(...r.sgemmGflopsPerStep, r.sgemmGflopsAfter);
      expect(r.ratioVsBestSgemm).toBeCloseTo(r.modelGflops / best, 12);
      expect(r.ratioVsBestSgemm).toBeLessThanOrEqual(r.ratio * (1 + 1e-9)); // holds for two steps (1/ms is convex)
    }
  });

  it('refuses a bad option with the option named, exit 2', async () => {
    const run = await runCli(['bench', 'attention', '--strategies', 'rign']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/did you mean "ring"/);
  });
});
