import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ringtrain/core';
import { OPTIM_DEFAULTS, resolveModel } from '@ringtrain/config';
import { MODEL_FILE_FORMAT, saveModel, withLocalWorld } from '@ringtrain/coordinator';
import { passkeyBatch } from '@ringtrain/data';
import { makeLayout } from '@ringtrain/layout';
import type { Bulk } from '@ringtrain/protocol';
import { paramSpecs } from '@ringtrain/worker';
import { CLI, runCli } from './testing/cli';

/**
 * model.safetensors as other tools read it: a NumPy reader (Debian's python3-numpy, no
 * safetensors package) finds every parameter under its name, with its real shape, holding
 * exactly the workers' values, and the model config in `__metadata__`.
 */
const PYTHON = process.env.RINGTRAIN_PYTHON ?? '/usr/bin/python3';
const READER = join(__dirname, 'testing', 'read_safetensors.py');

interface PyTensor {
  shape: number[];
  dtype: string;
  sha256: string;
}

function readWithNumpy(file: string): { metadata: Record<string, string>; tensors: Record<string, PyTensor>; order: string[] } {
  const r = spawnSync(PYTHON, [READER, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} ${READER} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout);
}

const sha256 = (t: { data: Float32Array | Int32Array }) => createHash('sha256').update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex');

describe('model.safetensors', () => {
  it('holds the workers\' parameters under descriptive names, with real shapes, readable by NumPy', async () => {
    // Odd sizes, GQA and previous-token maps, so every kind of parameter is present.
    const model = resolveModel('dModel=24,layers=3,heads=6,kvHeads=2,headDim=6,prevTokenEmbed=2');
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-model-'));
    let state: Bulk = new Map();
    let file = '';
    await withLocalWorld(
      { workers: 2, logger: createLogger({ name: 'model-file-test', level: 'error' }), workerCommand: [process.execPath, CLI, 'worker'], jobTimeoutMs: 120000 },
      async ({ replicas }) => {
        await replicas.init({ model, optim: { ...OPTIM_DEFAULTS, totalSteps: 2 }, seed: 3, strategy: 'zigzag' });
        const layout = makeLayout('zigzag', 101, 2);
        const batch = passkeyBatch({ seqLen: 101, batchSize: 2, seed: 1, index: 0, split: 'train', keyLength: 2 });
        await replicas.step(layout, { ...batch, batchSize: 2 }, model.prevTokenEmbed, { hashCheck: true, predictions: false, grads: false });
        file = await saveModel(dir, replicas, { model, steps: 1 });
        state = (await replicas.getState(false)).state;
      },
    );
    const py = readWithNumpy(file);
    const specs = paramSpecs(model);
    expect(py.order).toEqual(specs.map((s) => s.name));
    expect(py.order).toEqual(expect.arrayContaining(['embedding.weight', 'prev_token.2.proj', 'layers.2.attn.wk', 'layers.0.mlp.w2', 'final_norm.gain']));
    for (const s of specs) {
      const t = py.tensors[s.name];
      expect({ name: s.name, shape: t.shape, dtype: t.dtype }).toEqual({ name: s.name, shape: s.shape, dtype: 'F32' });
      expect(t.sha256).toBe(sha256(state.get(s.name)!));
    }
    expect(py.tensors['layers.1.attn.wk'].shape).toEqual([24, 12]);
    expect(py.tensors['embedding.weight'].shape).toEqual([model.vocabSize, 24]);
    expect(py.metadata.format).toBe(MODEL_FILE_FORMAT);
    expect(JSON.parse(py.metadata.model)).toEqual({ ...model });
  });

  it.each([8, 48])('a %i-layer model trains, saves every layer, and `eval` scores the saved model', async (layers) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ringtrain-deep-')), 'run');
    const train = await runCli(['train', '--model', `tiny,layers=${layers}`, '--workers', '2', '--seq-len', '128', '--steps', '2', '--eval-samples', '1', '--run-dir', dir], {}, 300000);
    expect(train.stderr).not.toMatch(/internal error|BAD_MESSAGE/);
    expect(train.code).toBe(0);
    const py = readWithNumpy(join(dir, 'model.safetensors'));
    expect(py.order).toHaveLength(2 + 8 * layers);
    expect(py.order).toContain(`layers.${layers - 1}.mlp.w2`);
    const evaluated = await runCli(['eval', '--run-dir', dir, '--samples', '2', '--json'], {}, 300000);
    expect(evaluated.code).toBe(0);
    const result = JSON.parse(evaluated.stdout);
    expect(result).toMatchObject({ seqLen: 128, samples: 2 });
    expect(Number.isFinite(result.loss)).toBe(true);
  });
});
