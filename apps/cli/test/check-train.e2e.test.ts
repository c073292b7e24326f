import type { TrainCheckCase } from '../src/check/run-train-check';
import { runCli } from './testing/cli';

/**
 * `ringtrain check --train`: one training step on real worker processes against the
 * single-process step, on a sequence length no world size divides.
 */
interface TrainCheckJson {
  ok: boolean;
  cases: TrainCheckCase[];
}

const SEQ = 127; // prime, and long enough for a passkey sample

describe('ringtrain check --train with real worker processes', () => {
  it.each([
    [2, ['ring', 'striped', 'zigzag', 'ulysses', 'rsa']],
    [3, ['ring', 'striped', 'zigzag']],
  ] as const)('P=%i: loss, gradient norm, every gradient and every updated parameter match', async (P, strategies) => {
    const run = await runCli(['check', '--train', '--json', '--workers', String(P), '--seq-len', String(SEQ), '--strategies', strategies.join(',')], {}, 180000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as TrainCheckJson;
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.strategy)).toEqual([...strategies]);
    for (const c of report.cases) {
      expect(c).toMatchObject({ workers: P, ok: true });
      expect(c.loss).toBeGreaterThan(1); // ~log(vocab) at init: a real loss
      expect(Math.abs(c.loss - c.lossRef)).toBeLessThanOrEqual(1e-5 * c.lossRef);
      expect(Math.abs(c.gradNorm - c.gradNormRef)).toBeLessThanOrEqual(1e-5 * c.gradNormRef);
      expect(c.maxGradRelErr).toBeLessThanOrEqual(1e-5);
      expect(c.maxUpdateRelErr).toBeLessThanOrEqual(1e-5);
      expect(c.maxParamRelErr).toBeLessThanOrEqual(1e-5);
    }
  }, 200000);

  it('fails, with exit code 3, when the tolerance is below the fp32 rounding it measures', async () => {
    const run = await runCli(['check', '--train', '--workers', '2', '--seq-len', String(SEQ), '--strategies', 'striped', '--tolerance', '1e-12'], {}, 120000);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/FAIL/);
    expect(run.stdout).toMatch(/max grad rel err/);
    expect(run.stdout).not.toMatch(/only the parameters against/); // the gradients fail too
  }, 150000);

  it('at a large learning rate, says the gradients agree and only Adam\'s amplified update differs', async () => {
    const run = await runCli(['check', '--train', '--workers', '2', '--seq-len', String(SEQ), '--strategies', 'ring', '--lr', '0.5'], {}, 120000);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/the gradients and the update agree; only the parameters against the single-process step differ/);
    expect(run.stdout).toMatch(/smaller --lr/);
  }, 150000);
});
