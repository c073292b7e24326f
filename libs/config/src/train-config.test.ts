import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { loadResolvedConfig, resolveTrainConfig, stagePasskeyOptions, type TrainInput } from './train-config';

const resolve = (file: TrainInput, flags: TrainInput = {}) => resolveTrainConfig(file, flags, 'runs/test');

describe('train config stages', () => {
  it('gives each warmup stage the run data and passkey loss targets unless it names its own', () => {
    const cfg = resolve({
      seqLen: 256,
      steps: 3,
      passkeyLossOn: 'answer',
      seqLenWarmup: [
        { seqLen: 128, batchSize: 8, steps: 5, data: 'copy' },
        { seqLen: 128, steps: 2, passkeyLossOn: 'all' },
      ],
    });
    expect(cfg.stages.map((s) => [s.seqLen, s.batchSize, s.steps, s.data.join(','), s.passkeyLossOn])).toEqual([
      [128, 8, 5, 'copy', 'answer'],
      [128, 1, 2, 'passkey', 'all'],
      [256, 1, 3, 'passkey', 'answer'],
    ]);
    expect(cfg.totalSteps).toBe(10);
    expect(cfg.optim.totalSteps).toBe(10);
    expect(stagePasskeyOptions(cfg, cfg.stages[1])).toEqual({ keyLength: 5, filler: 'repeat', lossOn: 'all' });
    expect(stagePasskeyOptions(cfg, cfg.stages[2])).toEqual({ keyLength: 5, filler: 'repeat', lossOn: 'answer' });
  });

  it('defaults to loss on every passkey target, and flags override the file', () => {
    const cfg = resolve({ data: 'copy', seqLenWarmup: [{ seqLen: 64, steps: 1 }] }, { data: 'passkey' });
    expect(cfg.passkeyLossOn).toBe('all');
    expect(cfg.stages.map((s) => s.data.join(','))).toEqual(['passkey', 'passkey']);
  });

  it.each<[string, TrainInput, RegExp]>([
    ['a bad passkeyLossOn', { passkeyLossOn: 'answers' }, /passkeyLossOn "answers" is not one of all, answer \(did you mean "answer"\?\)/],
    ['a bad stage passkeyLossOn', { seqLenWarmup: [{ seqLen: 64, steps: 1, passkeyLossOn: 'none' }] }, /seqLenWarmup\[0\]\.passkeyLossOn "none" is not one of all, answer/],
    ['an empty stage data', { seqLenWarmup: [{ seqLen: 64, steps: 1, data: '' }] }, /seqLenWarmup\[0\]\.data is empty/],
  ])('refuses %s with the problem named', (_name, file, message) => {
    expect(() => resolve(file)).toThrow(RingtrainError);
    expect(() => resolve(file)).toThrow(message);
  });
});

describe('a run\'s config.json (loadResolvedConfig)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-config-'));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads back exactly the config that train resolved, warmup stages and optimizer included', () => {
    const cfg = resolveTrainConfig({ model: 'passkey', seqLenWarmup: [{ seqLen: 128, batchSize: 4, steps: 3, data: 'copy' }], optim: { beta2: 0.99 } }, { steps: 5, lr: 0.002 }, join(dir, 'run'));
    expect(loadResolvedConfig(write('config.json', JSON.stringify(cfg, null, 2)))).toEqual(cfg);
  });

  it.each([
    ['a missing file', () => join(dir, 'nope.json'), 'CONFIG_NOT_FOUND'],
    ['a file that is not JSON', () => write('bad.json', '{"workers": 2,'), 'CONFIG_PARSE'],
    ['a train input rather than a resolved config', () => write('input.json', '{"workers": 2}'), 'BAD_CONFIG'],
    ['an unknown key', () => write('unknown.json', JSON.stringify({ ...resolveTrainConfig({}, {}, 'r'), wrokers: 3 })), 'UNKNOWN_CONFIG_KEY'],
    ['a value of the wrong type', () => write('type.json', JSON.stringify({ ...resolveTrainConfig({}, {}, 'r'), runDir: 'r', workers: 'two' })), 'BAD_CONFIG'],
    ['totalSteps edited by hand', () => write('total.json', JSON.stringify({ ...resolveTrainConfig({}, {}, 'r'), totalSteps: 7 })), 'BAD_CONFIG'],
  ])('refuses %s with a coded error', (_, file, code) => {
    expect(() => loadResolvedConfig(file())).toThrow(expect.objectContaining({ code }));
  });
});
