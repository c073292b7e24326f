import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bulk } from '@ringtrain/protocol';
import { OPTIMIZER_FILE } from './manifest';
import { checkpointsDir, findResumable, verifyCheckpoint, writeCheckpoint, type CheckpointContent } from './store';

/*
 * A full disk during a save, injected: the file system module is wrapped so that writes of one
 * file fail with ENOSPC, as they would on a full disk (apps/cli/test/full-disk.e2e.test.ts does
 * the same on a real, small tmpfs where the machine allows mounting one).
 */
jest.mock('node:fs/promises', () => {
  const real = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return { ...real, open: jest.fn(real.open) };
});

const f32 = (n: number, v: number) => ({ dtype: 'float32' as const, shape: [n], data: new Float32Array(n).fill(v) });

function content(step: number): CheckpointContent {
  const params: Bulk = new Map([['final_norm.gain', f32(8, step)]]);
  const optimizer: Bulk = new Map([['adam.m.final_norm.gain', f32(8, 0.5)], ['adam.v.final_norm.gain', f32(8, 0.25)]]);
  return {
    manifest: {
      step, stage: 0, stageStep: step, totalSteps: 10, worldSize: 2, strategy: 'ring', layout: 'contiguous',
      model: { vocabSize: 258, dModel: 8, layers: 1, heads: 2, kvHeads: 2, headDim: 4, mlpRatio: 4, ropeBase: 10000, normEps: 1e-5, initStd: 0.02, prevTokenEmbed: 0 },
      optim: { lr: 1e-3, minLrRatio: 0.1, warmupSteps: 0, totalSteps: 10, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 },
      optimizerStep: step, paramHash: 'a'.repeat(64), data: [{ kind: 'copy', seed: 1, index: step, fingerprint: 'copy:96' }], rng: { seed: 1 },
      metrics: { firstLoss: 5, lastLoss: 4, peakRssBytes: 1, trainSec: 1 },
    },
    params,
    optimizer,
  };
}

it('a save that hits a full disk fails with CHECKPOINT_WRITE_FAILED naming ENOSPC; the previous checkpoint stays intact and is what a resume takes', async () => {
  const run = mkdtempSync(join(tmpdir(), 'ringtrain-full-disk-'));
  try {
    await writeCheckpoint(run, content(2));
    const real = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises').open;
    jest.mocked(open).mockImplementation(async (path, flags, mode) => {
      const handle = await real(path, flags, mode);
      if (String(path).includes('step-000004.tmp') && String(path).endsWith(OPTIMIZER_FILE)) {
        handle.write = (async () => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }) as typeof handle.write;
      }
      return handle;
    });
    const err = await writeCheckpoint(run, content(4)).then(() => null, (e: unknown) => e);
    jest.mocked(open).mockImplementation(real);
    expect(err).toMatchObject({
      code: 'CHECKPOINT_WRITE_FAILED',
      message: expect.stringMatching(/step 4 into .*step-000004\.tmp: ENOSPC: no space left/),
      hint: expect.stringMatching(/disk is full.*earlier checkpoints are intact/),
    });
    expect(readdirSync(checkpointsDir(run)).sort()).toEqual(['latest', 'step-000002']); // nothing half-written left
    expect(verifyCheckpoint(join(checkpointsDir(run), 'step-000002')).step).toBe(2);
    expect(findResumable(run, () => undefined)).toBe(join(checkpointsDir(run), 'step-000002'));
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});
