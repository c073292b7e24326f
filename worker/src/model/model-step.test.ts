import * as tf from '@tensorflow/tfjs';
import { errorStats } from '@ringtrain/kernels';
import { SeededRandom } from '@ringtrain/core';
import { makeLayout, shardTokens } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { tfjsKernel } from '@ringtrain/kernels';
import { getStrategy } from '../strategies/registry';
import { TrainSession } from '../train/train-session';
import { OPTIM_DEFAULTS } from '@ringtrain/config';
import { MODEL_PRESETS, type ModelConfig } from '@ringtrain/config';
import { modelForward, modelStep } from './model-step';
import { useDeviceOps } from './ops-mode';
import { initParams } from './params';
import { referenceLossAndGrads } from './reference-model';
import { countSyncReadsAsync } from './testing/count-reads';

const baseCfg: ModelConfig = { ...MODEL_PRESETS.tiny, vocabSize: 11, heads: 4, kvHeads: 2, headDim: 4, dModel: 12 };

function batchOf(B: number, S: number, seed: number) {
  const rng = new SeededRandom(seed);
  const tokens = Int32Array.from({ length: B * S }, () => Math.floor(rng.next() * baseCfg.vocabSize));
  const targets = Int32Array.from({ length: B * S }, (_, i) => (i % 5 === 3 ? -1 : Math.floor(rng.next() * baseCfg.vocabSize)));
  return { tokens, targets };
}

/** One rank holding the whole batch (B 2, S 9; GQA 4:2; every fifth target -1): the step's env, inputs and weights. */
function wholeBatch(lags: number) {
  const cfg = { ...baseCfg, prevTokenEmbed: lags };
  const B = 2, S = 9;
  const { tokens, targets } = batchOf(B, S, 3);
  const [transport] = createInMemoryWorld(1);
  const globalTokens = targets.filter((t) => t >= 0).length;
  const one = makeLayout('contiguous', S, 1);
  const input = { ...shardTokens(one, 0, tokens, targets, B, lags), pos: one.positions(0), batch: B, seqLen: S, globalTokens };
  return { cfg, B, tokens, targets, params: initParams(cfg, 7), input, env: { transport, kernel: tfjsKernel, strategy: getStrategy('ring') } };
}

/** The P=1 step against the whole-model oracle: loss, eval forward, every gradient. */
async function expectMatchesOracle(lags: number): Promise<void> {
  const { cfg, B, tokens, targets, params, input, env } = wholeBatch(lags);
  const ref = referenceLossAndGrads(cfg, params, tokens, targets, B);
  const r = await modelStep(env, cfg, params, input, 't');
  expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
  expect(r.loss).toBeGreaterThan(1); // ~log(11) at init: the loss is real
  const ev = await modelForward(env, cfg, params, input, 'e');
  expect(ev.loss).toBeCloseTo(r.loss, 6);
  expect(Array.from(ev.predictions)).toEqual(Array.from(r.predictions));
  expect([...r.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
  for (const [name, g] of ref.grads) {
    const e = errorStats(r.grads.get(name)!, g);
    expect({ name, ok: e.rel < 1e-4 }).toEqual({ name, ok: true });
  }
}

const cases = [['ring', 2, 0], ['striped', 3, 0], ['zigzag', 2, 0], ['ulysses', 2, 0], ['rsa', 3, 0], ['striped', 3, 2], ['ulysses', 2, 1]] as const;

/** P ranks of `strategy` against one rank holding everything: loss, gradients, updated parameters. */
async function expectDistributedEqualsSingle(name: (typeof cases)[number][0], P: number, lags: number): Promise<void> {
  const cfg = { ...baseCfg, prevTokenEmbed: lags };
  const B = 2, S = 11;
  const { tokens, targets } = batchOf(B, S, 5);
  const strategy = getStrategy(name);
  const layout = makeLayout(strategy.layout, S, P);
  const globalTokens = targets.filter((t) => t >= 0).length;
  // lr 1e-3: Adam's first step divides each gradient by its own size, so fp32 noise in tiny
  // gradients moves parameters by up to ~lr·1e-4; the gradients themselves are compared too.
  const optim = { ...OPTIM_DEFAULTS, lr: 1e-3, totalSteps: 10, warmupSteps: 0 };

  const single = new TrainSession(cfg, optim, 1);
  const ref = referenceLossAndGrads(cfg, single.params, tokens, targets, B);
  const [one] = createInMemoryWorld(1);
  const whole = makeLayout('contiguous', S, 1);
  const refStep = await single.step({ transport: one, kernel: tfjsKernel, strategy: getStrategy('ring') }, { ...shardTokens(whole, 0, tokens, targets, B, lags), pos: whole.positions(0), batch: B, seqLen: S, globalTokens });

  const world = createInMemoryWorld(P);
  const sessions = world.map(() => new TrainSession(cfg, optim, 1));
  const reports = await Promise.all(world.map((transport, r) => {
    const pos = layout.positions(r);
    return sessions[r].step({ transport, kernel: tfjsKernel, strategy }, { ...shardTokens(layout, r, tokens, targets, B, lags), pos, batch: B, seqLen: S, globalTokens });
  }));
  const loss = reports.reduce((a, x) => a + x.loss, 0);
  expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
  for (const rep of reports) expect(Math.abs(rep.gradNorm - refStep.gradNorm) / refStep.gradNorm).toBeLessThan(1e-5);
  for (const [gname, g] of refStep.grads) {
    const e = errorStats(reports[0].grads.get(gname)!, g);
    expect({ gname, ok: e.rel < 1e-5 }).toEqual({ gname, ok: true });
  }
  const hashes = new Set(sessions.map((s) => s.paramHash()));
  expect(hashes.size).toBe(1); // replicas bit-identical
  for (const [pname, p] of single.params) {
    const e = errorStats(sessions[0].params.get(pname)!, p);
    expect({ pname, ok: e.rel < 1e-5 }).toEqual({ pname, ok: true });
  }
}

/** A step and an eval forward free every tensor they made. */
async function expectNoLeak(): Promise<void> {
  const { cfg, params, input, env } = wholeBatch(2);
  await modelStep(env, cfg, params, input, 'warm'); // first-use allocations (kernels' caches) out of the count
  const before = tf.memory().numTensors;
  await modelStep(env, cfg, params, input, 't');
  await modelForward(env, cfg, params, input, 'e');
  expect(tf.memory().numTensors).toBe(before);
}

describe('model step', () => {
  it('leaves no tensor behind', expectNoLeak);
  it.each([0, 2])('P=1 loss and every gradient match whole-model autodiff (prevTokenEmbed %i)', expectMatchesOracle);
  it.each(cases)('%s P=%i prevTokenEmbed %i: a distributed training step equals the single-process step', expectDistributedEqualsSingle);
});

describe('model step with device ops (tfjs ops only, reads awaited)', () => {
  beforeEach(() => useDeviceOps(true));
  afterEach(() => useDeviceOps(false));

  it.each([0, 2])('P=1 loss and every gradient match whole-model autodiff (prevTokenEmbed %i)', expectMatchesOracle);
  it.each(cases)('%s P=%i prevTokenEmbed %i: a distributed training step equals the single-process step', expectDistributedEqualsSingle);

  it('equals the host-form step: loss, predictions, every gradient, and the layers handed out as they finish', async () => {
    const run = async (device: boolean) => {
      useDeviceOps(device);
      const { cfg, params, input, env } = wholeBatch(2);
      const layers: number[] = [];
      const r = await modelStep({ ...env, onLayerGrads: (l, g) => layers.push(l, g.size) }, cfg, params, input, 't');
      return { ...r, layers };
    };
    const host = await run(false);
    const device = await run(true);
    expect(Math.abs(device.loss - host.loss) / host.loss).toBeLessThan(1e-6);
    expect(Array.from(device.predictions)).toEqual(Array.from(host.predictions));
    expect(device.layers).toEqual(host.layers);
    expect([...device.grads.keys()]).toEqual([...host.grads.keys()]); // same order, for the all-reduce buckets
    for (const [name, g] of host.grads) {
      const e = errorStats(device.grads.get(name)!, g);
      expect({ name, ok: e.rel < 1e-5 }).toEqual({ name, ok: true });
    }
  });

  it('a step and an eval forward read no tensor synchronously (no dataSync / arraySync)', async () => {
    const { cfg, params, input, env } = wholeBatch(2);
    const { result, reads } = await countSyncReadsAsync(async () => ({
      step: await modelStep(env, cfg, params, input, 't'),
      eval: await modelForward(env, cfg, params, input, 'e'),
    }));
    expect(reads).toBe(0);
    expect(result.step.loss).toBeGreaterThan(1);
    expect(result.eval.loss).toBeCloseTo(result.step.loss, 6);
  });

  it('leaves no tensor behind', expectNoLeak);
});
