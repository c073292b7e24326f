import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { loadConfigFile, loadResolvedConfig, resolveTrainConfig, stageDocMask, stagePasskeyOptions, type TrainInput } from './train-config';

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

describe('document masking, positions and held-out data', () => {
  it('defaults: docMask auto (on for file data, off for the built-in tasks), global positions, 1% held out, no valData', () => {
    const cfg = resolve({ data: 'corpus/', seqLenWarmup: [{ seqLen: 64, steps: 1, data: 'copy' }] });
    expect(cfg).toMatchObject({ docMask: 'auto', positions: 'global', valFraction: 0.01, valData: null });
    expect(cfg.stages.map((s) => stageDocMask(cfg, s))).toEqual([false, true]);
    expect(stageDocMask(resolve({}), resolve({}).stages[0])).toBe(false); // passkey
  });

  it('takes every setting from the file or the flags', () => {
    const cfg = resolve({ data: ['a.txt', 'b.jsonl'], docMask: 'off', positions: 'per-document', valFraction: 0.2 }, { docMask: 'on', valData: 'val/,more.txt' });
    expect(cfg).toMatchObject({ docMask: 'on', positions: 'per-document', valFraction: 0.2, valData: ['val/', 'more.txt'] });
    expect(stageDocMask(cfg, cfg.stages[0])).toBe(true);
    const passkey = resolve({ docMask: 'on', positions: 'per-document' }); // allowed with one document per row, and harmless
    expect(stageDocMask(passkey, passkey.stages[0])).toBe(true);
  });

  it.each<[string, TrainInput, RegExp]>([
    ['a docMask that is not a mode', { docMask: 'of' }, /docMask "of" is not one of auto, on, off \(did you mean "off"\?\)/],
    ['a positions mode that does not exist', { positions: 'per-doc' }, /positions "per-doc" is not one of global, per-document/],
    ['a valFraction of 0', { data: 'c/', valFraction: 0 }, /valFraction 0 must be greater than 0 and less than 1/],
    ['a valFraction of 1', { data: 'c/', valFraction: 1 }, /valFraction 1 must be greater than 0 and less than 1/],
    ['a valFraction that is not a number', { data: 'c/', valFraction: '0.1' as unknown as number }, /valFraction "0.1" must be a number/],
    ['valData that names a built-in task', { data: 'c/', valData: 'passkey' }, /valData "passkey" is a built-in task/],
    ['valData with passkey data', { valData: 'val.txt' }, /valData is for file data, but data is the built-in "passkey" task/],
    ['an empty valData', { data: 'c/', valData: '' }, /valData is empty/],
    ['a misspelt key', { data: 'c/', valFracton: 0.1 } as TrainInput, /unknown config key "valFracton" \(did you mean "valFraction"\?\)/],
  ])('refuses %s, naming it', (_name, file, message) => {
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

  it('reads back docMask, positions, valFraction and valData', () => {
    const cfg = resolveTrainConfig({ data: 'corpus/', docMask: 'off', positions: 'per-document', valFraction: 0.05, valData: ['held/'] }, {}, join(dir, 'run'));
    const back = loadResolvedConfig(write('config-docs.json', JSON.stringify(cfg, null, 2)));
    expect(back).toEqual(cfg);
    expect(back).toMatchObject({ docMask: 'off', positions: 'per-document', valFraction: 0.05, valData: ['held/'] });
    const defaults = resolveTrainConfig({ data: 'corpus/' }, {}, join(dir, 'run'));
    expect(loadResolvedConfig(write('config-defaults.json', JSON.stringify(defaults)))).toEqual(defaults);
    // A config.json written before these settings existed reads back with their defaults.
    const older = Object.fromEntries(Object.entries(defaults).filter(([k]) => !['docMask', 'positions', 'valFraction', 'valData'].includes(k)));
    expect(Object.keys(older)).not.toContain('valData');
    expect(loadResolvedConfig(write('config-older.json', JSON.stringify(older)))).toEqual(defaults);
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

describe('bounds on what a config may ask for', () => {
  it.each<[string, TrainInput, string, RegExp]>([
    ['a runDir that is a number', { runDir: 5 as unknown as string }, 'BAD_CONFIG', /runDir 5 must be a string path/],
    ['an empty runDir', { runDir: '' }, 'BAD_CONFIG', /runDir "" must be a string path/],
    ['a runDir under /proc (where mkdir -p never returns)', { runDir: '/proc/x' }, 'RUN_DIR_UNUSABLE', /run directory \/proc\/x is under \/proc, a file system of the kernel/],
    ['a runDir under /sys', { runDir: '/sys/../sys/x' }, 'RUN_DIR_UNUSABLE', /is under \/sys/],
    ['more workers than any run', { workers: 100_000, seqLen: 1_000_000 }, 'BAD_CONFIG', /workers 100000 is more than 4096, the most ringtrain runs/],
    ['a sequence beyond int32 positions', { seqLen: 1e12 }, 'WONT_FIT', /seqLen 1000000000000 is beyond the 2147483648 tokens a sequence can hold \(positions are int32\); the run would need about .* per worker .* this machine has .* of memory/],
    ['a step beyond int32 token indices', { seqLen: 2 ** 30, batchSize: 4 }, 'WONT_FIT', /seqLen 1073741824 × batchSize 4 is beyond the 2147483648 tokens a step can hold/],
    ['a warmup stage beyond int32 positions', { seqLenWarmup: [{ seqLen: 2 ** 32, steps: 1 }] }, 'WONT_FIT', /seqLenWarmup\[0\]\.seqLen 4294967296 is beyond/],
    ['a model deeper than any run', { model: 'tiny,layers=1000000000' }, 'BAD_MODEL', /model layers 1000000000 is above the limit of 4096/],
    ['a model wider than any run', { model: { preset: 'tiny', dModel: 1e7 } }, 'BAD_MODEL', /model dModel 10000000 is above the limit of 65536/],
    ['a step count beyond exact integers', { steps: 1e300 }, 'BAD_CONFIG', /steps 1e\+300 is beyond the largest exact integer/],
  ])('refuses %s before anything is allocated', (_name, file, code, message) => {
    expect(() => resolve(file)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
  });

  it('names the sizes that fit in the hint of a size beyond the limits', () => {
    expect(() => resolve({ seqLen: 1e12 })).toThrow(expect.objectContaining({ hint: expect.stringMatching(/--seq-len \d+/) }));
  });

  it('refuses a config file that is a directory, or unreadable, with a coded error naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-config-'));
    expect(() => loadConfigFile(dir)).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE', message: `config file ${dir} is a directory` }));
  });
});

describe('hybrid in the train config', () => {
  const model = { preset: 'tiny', heads: 6, kvHeads: 2, headDim: 8, dModel: 48 };

  it('keeps the Ulysses degree and ring layout for hybrid only, with defaults', () => {
    const cfg = resolve({ strategy: 'hybrid', workers: 6, model, seqLen: 64 }, { ulyssesDegree: 3, ringLayout: 'zigzag' });
    expect([cfg.ulyssesDegree, cfg.ringLayout]).toEqual([3, 'zigzag']);
    const byDefault = resolve({ strategy: 'hybrid', workers: 6, model, seqLen: 64 });
    expect([byDefault.ulyssesDegree, byDefault.ringLayout]).toEqual([3, 'contiguous']);
    expect(resolve({ strategy: 'hybrid', workers: 4, model: { ...model, heads: 4 }, seqLen: 64, ringLayout: 'ring' }).ringLayout).toBe('contiguous');
    const ring = resolve({ strategy: 'ring', workers: 6, model, seqLen: 64 });
    expect('ulyssesDegree' in ring || 'ringLayout' in ring).toBe(false);
  });

  it('refuses a degree that does not divide the workers or the heads, naming the nearest that work', () => {
    const at = (u: number, workers = 6, heads = 6) => () => resolve({ strategy: 'hybrid', workers, model: { ...model, heads }, seqLen: 64, ulyssesDegree: u });
    expect(at(4)).toThrow(/ulyssesDegree 4 does not divide workers 6/);
    expect(at(4)).toThrow(expect.objectContaining({ code: 'HYBRID_DEGREE', hint: expect.stringContaining('use ulyssesDegree 3 (the degrees that divide both workers 6 and model heads 6: 1, 2, 3, 6)') }));
    expect(at(12)).toThrow(/R = 6\/12 = 0 groups/);
    expect(at(0)).toThrow(expect.objectContaining({ code: 'HYBRID_DEGREE', hint: expect.stringContaining('use ulyssesDegree 1 ') }));
    expect(at(3, 6, 4)).toThrow(expect.objectContaining({ code: 'ULYSSES_HEADS', hint: expect.stringContaining('use ulyssesDegree 2 ') }));
    // Batch folded into heads: 6 heads × batch 2 split over 4.
    expect(() => resolve({ strategy: 'hybrid', workers: 4, model, seqLen: 64, batchSize: 2, ulyssesDegree: 4 })).not.toThrow();
  });

  it('refuses hybrid keys for another strategy; a hybrid run resumed as another leaves them behind', () => {
    expect(() => resolve({ strategy: 'ring', workers: 6, model, seqLen: 64 }, { ulyssesDegree: 2 })).toThrow(/ulyssesDegree 2 only applies to strategy hybrid/);
    expect(() => resolve({ strategy: 'hybrid', ringLayout: 'spiral', workers: 6, model, seqLen: 64 })).toThrow(/ringLayout "spiral" is not one of ring, contiguous, striped, zigzag/);
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-hybrid-'));
    const cfg = resolve({ strategy: 'hybrid', workers: 6, model, seqLen: 64, runDir: dir }, { ulyssesDegree: 2, ringLayout: 'striped' });
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(cfg));
    expect(loadResolvedConfig(file)).toMatchObject({ strategy: 'hybrid', ulyssesDegree: 2, ringLayout: 'striped' });
    const asRing = loadResolvedConfig(file, { strategy: 'ring' });
    expect([asRing.strategy, asRing.ulyssesDegree, asRing.ringLayout]).toEqual(['ring', undefined, undefined]);
  });
});
