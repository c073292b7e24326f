import * as tf from '@tensorflow/tfjs';
import { errorStats, tfjsKernel } from '@ringtrain/kernels';
import { MODEL_PRESETS, type ModelConfig } from '@ringtrain/config';
import { SeededRandom } from '@ringtrain/core';
import { makeLayout, shardTokens } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { initWebgpuBackend } from '@ringtrain/webgpu';
import { getStrategy } from '../strategies/registry';
import type { StrategyName } from '../strategies/types';
import { modelForward, modelStep } from './model-step';
import { useDeviceOps } from './ops-mode';
import { initParams } from './params';
import { referenceLossAndGrads } from './reference-model';

/**
 * The device forms where they are meant to run: training steps on tfjs's webgpu backend (where
 * dataSync fails in Node) against the whole-model oracle on the cpu backend. Set
 * RINGTRAIN_WEBGPU_TESTS (scripts/test.mjs does when a Vulkan adapter is set up, libs/webgpu);
 * unset, skipped.
 */
const describeGpu = process.env.RINGTRAIN_WEBGPU_TESTS ? describe : describe.skip;

const cfg: ModelConfig = { ...MODEL_PRESETS.tiny, vocabSize: 11, heads: 4, kvHeads: 2, headDim: 4, dModel: 12, prevTokenEmbed: 2 };

describeGpu('model step with device ops on the webgpu backend', () => {
  afterAll(async () => {
    useDeviceOps(false);
    await tf.setBackend('cpu');
  });

  it.each([['ring', 1], ['ring', 2], ['ulysses', 2]] as const)('%s P=%i: loss and gradients (summed over ranks) match whole-model autodiff (GQA, prevTokenEmbed 2, masked targets)', async (name: StrategyName, P: number) => {
    const B = 2, S = 9;
    const rng = new SeededRandom(3);
    const tokens = Int32Array.from({ length: B * S }, () => Math.floor(rng.next() * cfg.vocabSize));
    const targets = Int32Array.from({ length: B * S }, (_, i) => (i % 5 === 3 ? -1 : Math.floor(rng.next() * cfg.vocabSize)));
    const params = initParams(cfg, 7);
    await tf.setBackend('cpu');
    const ref = referenceLossAndGrads(cfg, params, tokens, targets, B);

    const init = await initWebgpuBackend({ allowSoftware: true });
    if (!init.ok) throw new Error(init.reason);
    useDeviceOps(true);
    const strategy = getStrategy(name);
    const layout = makeLayout(strategy.layout, S, P);
    const globalTokens = targets.filter((t) => t >= 0).length;
    const ranks = createInMemoryWorld(P).map((transport, r) => ({
      env: { transport, kernel: tfjsKernel, strategy },
      input: { ...shardTokens(layout, r, tokens, targets, B, cfg.prevTokenEmbed), pos: layout.positions(r), batch: B, seqLen: S, globalTokens },
    }));
    const steps = await Promise.all(ranks.map(({ env, input }) => modelStep(env, cfg, params, input, 't')));
    const evals = await Promise.all(ranks.map(({ env, input }) => modelForward(env, cfg, params, input, 'e')));
    expect(tf.getBackend()).toBe('webgpu');

    const loss = steps.reduce((a, s) => a + s.loss, 0);
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(evals.reduce((a, e) => a + e.loss, 0)).toBeCloseTo(loss, 5);
    steps.forEach((s, r) => expect(Array.from(evals[r].predictions)).toEqual(Array.from(s.predictions)));
    for (const [gname, g] of ref.grads) {
      const sum = new Float32Array(g.length);
      for (const s of steps) s.grads.get(gname)!.forEach((v, i) => (sum[i] += v));
      expect({ gname, ok: errorStats(sum, g).rel < 1e-4 }).toEqual({ gname, ok: true });
    }
  });
});
