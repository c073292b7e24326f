import { runCli } from './testing/cli';

/** Impossible options end with a message naming the option, the value and what would work; no stack trace. */
describe('ringtrain check refuses impossible options', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['world larger than the sequence', ['--workers', '4', '--seq-len', '3'], /--seq-len 3 is shorter than --workers 4.*\n.*hint: use --seq-len 4 or more/],
    ['kv heads that do not divide heads', ['--heads', '8', '--kv-heads', '3'], /--kv-heads 3 must divide --heads 8[\s\S]*use --kv-heads one of 1, 2, 4, 8/],
    ['unknown strategy', ['--strategies', 'ring,stripd'], /unknown strategy "stripd"[\s\S]*did you mean "striped"/],
    ['zero head dim', ['--head-dim', '0'], /--head-dim 0 is not valid: an integer of at least 1/],
    ['negative workers', ['--workers', '-2'], /--workers -2 is not valid/],
    ['not a number', ['--seq-len', 'many'], /--seq-len "many" is not valid/],
    ['ulysses heads that do not split', ['--strategies', 'ulysses', '--workers', '3', '--heads', '4'], /--heads 4 does not divide by --workers 3[\s\S]*hint: use a worker count of 1, 2, 4/],
    ['unknown option', ['--seq-length', '10'], /unknown option '--seq-length'[\s\S]*Did you mean --seq-len/],
  ];

  it.each(cases)('%s', async (_name, args, message) => {
    const run = await runCli(['check', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(run.stdout).toBe('');
  });
});

describe('a worker that cannot start', () => {
  it('ends the check with a message naming the worker and its output, and exit 3 (failed after starting)', async () => {
    const run = await runCli(['check', '--workers', '2', '--seq-len', '8'], { RINGTRAIN_CLI: '/nonexistent/ringtrain.cjs' });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/\[WORKER_EXITED\] worker \d exited with code 1 before the job finished/);
    expect(run.stderr).toMatch(/Cannot find module '\/nonexistent\/ringtrain.cjs'/);
  });
});

describe('ringtrain coordinator --resolved-config', () => {
  it.each([
    ['a missing file', '/nonexistent/config.json', /\[CONFIG_NOT_FOUND\] config file \/nonexistent\/config.json does not exist/],
    ['a malformed file', __filename, /\[CONFIG_PARSE\]/],
  ])('%s is a coded error, not a stack trace', async (_name, file, message) => {
    const run = await runCli(['coordinator', '--resolved-config', file], { RINGTRAIN_SECRET: 's' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
