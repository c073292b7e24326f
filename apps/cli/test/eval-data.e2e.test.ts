import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataSplit } from '@ringtrain/data';
import { runCli } from './testing/cli';

/**
 * File data end to end: training never reads the held-out documents, `eval` scores the held-out
 * split or any files named with --data (the loss a mean over every scored token, whatever the
 * batching), and every record counts steps the same way (step n = after n optimizer steps).
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'ringtrain-evaldata-'));
const jsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

const WORDS = ['river', 'stone', 'lantern', 'meadow', 'copper', 'whistle', 'harbor', 'ember', 'quiet', 'falcon'];
/** 30 documents of 150–400 bytes of plain words. */
function writeCorpus(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 30; i++) {
    const words = Array.from({ length: 25 + ((i * 7) % 40) }, (_, j) => WORDS[(i * 3 + j * j) % WORDS.length]);
    writeFileSync(join(dir, `doc-${String(i).padStart(2, '0')}.txt`), `${words.join(' ')}.\n`);
  }
}

/** Scored file: 4 JSONL documents; the last, of rare bytes, ends in a padded sequence. */
const SCORED = ['the river runs by the stone meadow and the copper lantern', 'ember falcon whistle', 'quiet harbor, quiet harbor, quiet harbor in the evening light', '~~~ ### ~~~ ### @@@ ^^^'];

describe('file data: held-out split, eval --data, one step count', () => {
  const dir = tmp();
  const corpus = join(dir, 'corpus');
  const runDir = join(dir, 'run');
  const scored = join(dir, 'scored.jsonl');
  let train: Awaited<ReturnType<typeof runCli>>;
  const SEQ = 64;

  beforeAll(async () => {
    writeCorpus(corpus);
    writeFileSync(scored, SCORED.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    train = await runCli([
      'train', '--data', corpus, '--workers', '2', '--strategy', 'zigzag', '--seq-len', String(SEQ), '--batch-size', '2', '--steps', '6', '--model', 'tiny', '--lr', '1e-2',
      '--val-fraction', '0.1', '--eval-every', '2', '--eval-samples', '3', '--checkpoint-every', '2', '--run-dir', runDir,
    ], {}, 300000);
  }, 300000);

  it('trains with the held-out split recorded in config.json; every record counts steps as optimizer steps done', () => {
    expect(train.stderr).not.toMatch(/internal error/);
    expect(train.code).toBe(0);
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'))).toMatchObject({ docMask: 'auto', positions: 'global', valFraction: 0.1, valData: null });
    expect(jsonl(join(runDir, 'metrics.jsonl')).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const evals = jsonl(join(runDir, 'eval.jsonl'));
    expect(evals.map((e) => e.step)).toEqual([2, 4, 6]);
    expect(evals[0]).toMatchObject({ sequences: 3, data: `held-out: 3 of 30 documents of ${corpus} (valFraction 0.1)` });
    expect(jsonl(join(runDir, 'checkpoints.jsonl')).map((c) => c.step)).toEqual([2, 4, 6]);
    expect(JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')).eval.step).toBe(6);
    expect(train.stdout).toMatch(/step 1\/6 /);
    expect(train.stdout).toMatch(/step 6\/6 /);
    expect(train.stdout).not.toMatch(/step 7\/6|step 0\/6/);
    expect(train.stdout).toMatch(/eval after step 2: loss [\d.]+, [\d.]+ bits\/byte over \d+ tokens of 3 held-out sequences/);
    expect(train.stdout).toMatch(/eval after step 6:/);
  });

  it('`eval --data FILE` scores every sequence of the file; the loss is the mean over its tokens, whatever the batching', async () => {
    const evalJson = async (...args: string[]) => {
      const r = await runCli(['eval', '--run-dir', runDir, '--data', scored, '--json', ...args], {}, 300000);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    };
    // Independently of the code under test: the stream is the documents joined by separators,
    // every token after the first a target; N sequences of SEQ targets, the last one padded.
    const streamTokens = SCORED.reduce((a, t) => a + Buffer.byteLength(t), 0) + SCORED.length - 1;
    const N = Math.ceil((streamTokens - 1) / SEQ);
    expect((streamTokens - 1) % SEQ).not.toBe(0); // the last sequence is padded

    // One batch of all N sequences: the workers' own mean over every target of the file.
    const whole = await evalJson('--batch-size', String(N));
    expect(whole).toMatchObject({ seqLen: SEQ, step: 6, tokens: streamTokens - 1, byteTokens: streamTokens - SCORED.length, sequences: N });
    expect(whole.data).toContain(scored);
    for (const b of [1, N - 1]) {
      const r = await evalJson('--batch-size', String(b));
      expect(r.tokens).toBe(whole.tokens);
      expect(r.loss).toBeCloseTo(whole.loss, 4);
      expect(r.bitsPerByte).toBeCloseTo(whole.bitsPerByte, 4);
    }
    // The mean of per-batch means would differ: batches of N−1 full sequences and the padded last.
    const full = await evalJson('--batch-size', String(N - 1), '--samples', String(N - 1));
    expect(full.sequences).toBe(N - 1);
    expect(full.tokens).toBe(SEQ * (N - 1));
    const lastLoss = (whole.loss * whole.tokens - full.loss * full.tokens) / (whole.tokens - full.tokens);
    expect(Math.abs((full.loss + lastLoss) / 2 - whole.loss)).toBeGreaterThan(0.05); // 0.2 when written
    // Bits per byte count the byte targets' nats only: with the separators' nats (≥ 0) they make the total.
    expect(whole.bitsPerByte).toBeGreaterThan(0);
    expect(whole.bitsPerByte * Math.LN2 * whole.byteTokens).toBeLessThan(whole.loss * whole.tokens);

    const table = await runCli(['eval', '--run-dir', runDir, '--data', scored], {}, 300000);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/loss \(mean per token\)\s+[\d.]+\nbits per byte\s+[\d.]+\ntokens scored\s+\d+\nsequences\s+\d+/);
  }, 600000);

  it('`eval` without --data scores the whole held-out split in order; asking for more is refused, saying how many it holds', async () => {
    const heldOut = openDataSplit([corpus], { seqLen: SEQ, seed: 0, valFraction: 0.1 }).heldOut!;
    const r = await runCli(['eval', '--run-dir', runDir, '--json'], {}, 300000);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ step: 6, sequences: heldOut.sequenceCount, tokens: heldOut.tokenCount - 1, data: `held-out: 3 of 30 documents of ${corpus} (valFraction 0.1)` });
    // The first 3 held-out sequences are the ones training evaluated at its end.
    const three = await runCli(['eval', '--run-dir', runDir, '--samples', '3', '--json'], {}, 300000);
    expect(JSON.parse(three.stdout).loss).toBeCloseTo(jsonl(join(runDir, 'eval.jsonl')).pop().loss, 4);

    const tooMany = await runCli(['eval', '--run-dir', runDir, '--samples', String(heldOut.sequenceCount + 1)]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toMatch(new RegExp(`HELD_OUT_TOO_SMALL.*holds ${heldOut.sequenceCount} sequences of ${SEQ} tokens, fewer than the ${heldOut.sequenceCount + 1} asked for`));
    expect(tooMany.stderr).toMatch(new RegExp(`--samples ${heldOut.sequenceCount} or fewer`));
  }, 600000);

  it.each<[string, string[], RegExp]>([
    ['an unknown --doc-mask', ['--doc-mask', 'of'], /--doc-mask "of" is not one of auto, on, off \(did you mean "off"\?\)/],
    ['an unknown --positions', ['--positions', 'per-doc'], /--positions "per-doc" is not one of global, per-document/],
    ['a --val-fraction of 1.5', ['--val-fraction', '1.5'], /--val-fraction "1\.5" is not valid: a fraction greater than 0 and less than 1/],
    ['--val-data with passkey data', ['--data', 'passkey', '--val-data', 'x.txt'], /valData is for file data, but data is the built-in "passkey" task/],
    ['more eval samples than the held-out split holds', ['--eval-samples', '500'], /HELD_OUT_TOO_SMALL.*holds \d+ sequences of 64 tokens, fewer than the 500 asked for[\s\S]*--eval-samples \d+ or fewer/],
  ])('train refuses %s before any process starts', async (_name, args, message) => {
    const r = await runCli(['train', '--data', corpus, '--seq-len', '64', '--run-dir', join(dir, 'refused'), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
