import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-train-'));

/** Live coordinator/worker processes of the run in `runDir` (other tests may run their own). */
function runProcesses(runDir: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/ringtrain\.cjs\0(worker|coordinator)/.test(cmd)) continue;
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmd.includes(runDir) || env.includes(runDir)) n++;
    } catch {
      // the process ended while we looked
    }
  }
  return n;
}

describe('ringtrain train', () => {
  it('trains with 2 worker processes and the loss falls; writes config, metrics and logs', async () => {
    const dir = join(tmp(), 'run');
    const run = await runCli(['train', '--workers', '2', '--strategy', 'striped', '--seq-len', '128', '--steps', '30', '--model', 'tiny', '--data', 'passkey', '--lr', '1e-2', '--eval-samples', '2', '--run-dir', dir], {}, 300000);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/step 30\/30/);
    expect(run.stdout).toMatch(/final passkey accuracy on 2 held-out samples/);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(30);
    for (const key of ['step', 'loss', 'lr', 'gradNorm', 'tokens', 'tokensPerSec', 'stepMs', 'computeMs', 'attentionMs', 'commMs', 'allReduceMs', 'optimizerMs']) {
      expect(typeof metrics[0][key]).toBe('number');
    }
    const mean = (xs: Array<{ loss: number }>) => xs.reduce((a, m) => a + m.loss, 0) / xs.length;
    expect(mean(metrics.slice(-5))).toBeLessThan(mean(metrics.slice(0, 5)) - 0.5);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ workers: 2, strategy: 'striped', seqLen: 128, steps: 30 });
    expect(readFileSync(join(dir, 'worker-0.log'), 'utf8')).toMatch(/"level":"info"/);
    expect(runProcesses(dir)).toBe(0);
  });

  it('takes a YAML config and lets flags override it', async () => {
    const d = tmp();
    const file = join(d, 'run.yaml');
    writeFileSync(file, 'workers: 2\nstrategy: zigzag\nseqLen: 128\nsteps: 2\nmodel: tiny\nevalSamples: 1\n');
    const run = await runCli(['train', '--config', file, '--steps', '3', '--run-dir', join(d, 'run')], {}, 120000);
    expect(run.code).toBe(0);
    expect(JSON.parse(readFileSync(join(d, 'run', 'config.json'), 'utf8'))).toMatchObject({ strategy: 'zigzag', seqLen: 128, steps: 3 });
  });

  it('trains the seqLenWarmup stages first (each on its own data), then the main sequence length, under one schedule', async () => {
    const d = tmp();
    const file = join(d, 'run.json');
    const seqLenWarmup = [{ seqLen: 128, batchSize: 3, steps: 2, data: 'copy' }, { seqLen: 128, steps: 1 }];
    writeFileSync(file, JSON.stringify({ workers: 2, seqLen: 160, steps: 2, model: 'tiny', evalSamples: 1, seqLenWarmup }));
    const run = await runCli(['train', '--config', file, '--run-dir', join(d, 'run')], {}, 120000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/after 2 of copy at seq 128 × 3, 1 at seq 128 × 1/);
    expect(run.stdout).toMatch(/step 5\/5/);
    const metrics = readFileSync(join(d, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.tokens)).toEqual([384, 384, 128, 160, 160]);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5]); // step n: after n optimizer steps
    // Passkey accuracy is reported on the passkey stages only.
    expect(metrics.map((m) => m.taskAccuracy === undefined)).toEqual([true, true, false, false, false]);
    expect(readFileSync(join(d, 'run', 'coordinator.log'), 'utf8')).toMatch(/stage: copy at seqLen 128 × batch 3 for 2 steps/);
    // One warmup + cosine schedule over all 5 steps: the lr keeps falling across the stage change.
    expect(metrics[4].lr).toBeLessThan(metrics[3].lr);
  });
});

describe('ringtrain train refuses bad configs with a named problem and fix', () => {
  const d = tmp();
  const notJsonl = join(d, 'docs.jsonl');
  writeFileSync(notJsonl, 'this is not json\n');
  const unknownKey = join(d, 'typo.json');
  writeFileSync(unknownKey, JSON.stringify({ stpes: 10 }));
  const badStage = join(d, 'stage.json');
  writeFileSync(badStage, JSON.stringify({ seqLenWarmup: [{ seqLen: 64, step: 10 }] }));
  const badStageData = join(d, 'stage-data.json');
  writeFileSync(badStageData, JSON.stringify({ seqLenWarmup: [{ seqLen: 128, steps: 2, data: join(d, 'missing.txt') }] }));
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown config key', ['--config', unknownKey], /unknown config key "stpes" \(did you mean "steps"\?\)/],
    ['unknown warmup stage key', ['--config', badStage], /unknown seqLenWarmup\[0\] key "step" \(did you mean "steps"\?\)/],
    ['a warmup stage whose data is missing', ['--config', badStageData], /missing\.txt/],
    ['heads that do not divide', ['--model', 'tiny,heads=3,kvHeads=2'], /kvHeads 2 must divide heads 3/],
    ['prevTokenEmbed out of range', ['--model', 'tiny,prevTokenEmbed=9'], /prevTokenEmbed 9 must be an integer from 0 to 4/],
    ['sequence shorter than the world', ['--workers', '4', '--seq-len', '3'], /seqLen 3 is shorter than workers 4/],
    ['missing data path', ['--data', join(d, 'nope.txt')], /nope\.txt/],
    ['a data file that is not what its extension says', ['--data', notJsonl], /docs\.jsonl/],
    ['unknown strategy', ['--strategy', 'stripe'], /did you mean "striped"/],
    ['unknown preset', ['--model', 'smal'], /unknown model preset "smal" \(did you mean "small"\?\)/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const run = await runCli(['train', '--run-dir', join(d, 'r'), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('a worker that cannot start ends the run with its output and leaves no process behind', async () => {
    const run = await runCli(['train', '--workers', '2', '--seq-len', '128', '--steps', '2', '--backend', 'gpu', '--run-dir', join(d, 'w')], { RINGTRAIN_BACKEND: 'gpu' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/worker \d exited with code 2[\s\S]*BACKEND_UNAVAILABLE[\s\S]*tfjs-node-gpu/);
    expect(runProcesses(join(d, 'w'))).toBe(0);
  });
});
