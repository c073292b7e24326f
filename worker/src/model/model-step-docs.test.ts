import { errorStats, tfjsKernel } from '@ringtrain/kernels';
import { SeededRandom } from '@ringtrain/core';
import { MODEL_PRESETS, OPTIM_DEFAULTS, type ModelConfig } from '@ringtrain/config';
import { makeLayout, shardTokens, type Layout } from '@ringtrain/layout';
import { createInMemoryWorld } from '@ringtrain/transport';
import { getStrategy } from '../strategies/registry';
import type { StrategyName } from '../strategies/types';
import { TrainSession } from '../train/train-session';
import { useDeviceOps } from './ops-mode';
import { referenceLossAndGrads } from './reference-model';

/**
 * Packed sequences: every sequence of the batch has its own documents (a boundary inside a shard,
 * at a shard boundary, a one-token document, one document spanning every rank), optionally RoPE
 * positions restarting at each document. A distributed step equals the whole-model oracle under
 * the block-diagonal causal mask.
 */
const cfg: ModelConfig = { ...MODEL_PRESETS.tiny, vocabSize: 11, heads: 4, kvHeads: 2, headDim: 4, dModel: 12 };
const S = 13;
const B = 3;
/** Document lengths per sequence (each sums to S). */
const DOC_LENS = [
  [5, 1, 7],
  [13],
  [2, 4, 3, 4],
];

function packed(perDocPositions: boolean) {
  const rng = new SeededRandom(9);
  const tokens = Int32Array.from({ length: B * S }, () => Math.floor(rng.next() * cfg.vocabSize));
  const targets = Int32Array.from({ length: B * S }, (_, i) => (i % 6 === 4 ? -1 : Math.floor(rng.next() * cfg.vocabSize)));
  const docs = new Int32Array(B * S);
  const ropePos = new Int32Array(B * S);
  DOC_LENS.forEach((lens, b) => {
    let at = 0;
    lens.forEach((len, d) => {
      for (let i = 0; i < len; i++) {
        docs[b * S + at + i] = 100 * b + d; // ids need only differ within a sequence
        ropePos[b * S + at + i] = perDocPositions ? i : at + i;
      }
      at += len;
    });
  });
  return { tokens, targets, docs, ropePos };
}

/** Rank r's [B, Sr] values of a per-token [B, S] array. */
function rows(layout: Layout, r: number, values: Int32Array): Int32Array {
  const pos = layout.positions(r);
  return Int32Array.from({ length: B * pos.length }, (_, i) => values[Math.floor(i / pos.length) * S + pos[i % pos.length]]);
}

async function expectPackedStepMatches(name: StrategyName, P: number, perDocPositions: boolean): Promise<void> {
  const { tokens, targets, docs, ropePos } = packed(perDocPositions);
  const optim = { ...OPTIM_DEFAULTS, lr: 1e-3, totalSteps: 10, warmupSteps: 0 };
  const strategy = getStrategy(name);
  const layout = makeLayout(strategy.layout, S, P);
  const globalTokens = targets.filter((t) => t >= 0).length;
  const sessions = Array.from({ length: P }, () => new TrainSession(cfg, optim, 1));
  const ref = referenceLossAndGrads(cfg, sessions[0].params, tokens, targets, B, { docs, ropePos });
  const plain = referenceLossAndGrads(cfg, sessions[0].params, tokens, targets, B);
  expect(Math.abs(plain.loss - ref.loss)).toBeGreaterThan(1e-4); // the documents change the answer

  const world = createInMemoryWorld(P);
  const reports = await Promise.all(world.map((transport, r) =>
    sessions[r].step({ transport, kernel: tfjsKernel, strategy }, {
      ...shardTokens(layout, r, tokens, targets, B, 0),
      pos: layout.positions(r),
      docs: rows(layout, r, docs),
      ropePos: rows(layout, r, ropePos),
      batch: B,
      seqLen: S,
      globalTokens,
    }),
  ));
  const loss = reports.reduce((a, x) => a + x.loss, 0);
  expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
  for (const [gname, g] of ref.grads) {
    const e = errorStats(reports[0].grads.get(gname)!, g);
    expect({ gname, ok: e.rel < 1e-4 }).toEqual({ gname, ok: true });
  }
}

const cases = [['ring', 2, false], ['striped', 3, true], ['zigzag', 2, true], ['ulysses', 2, false], ['rsa', 3, true], ['ring', 1, true]] as const;

describe('a training step on packed documents equals the single-process step under the document mask', () => {
  it.each(cases)('%s P=%i, per-document positions %s', expectPackedStepMatches);
});

describe('the same with device ops (the GPU form of the local segments)', () => {
  beforeEach(() => useDeviceOps(true));
  afterEach(() => useDeviceOps(false));
  it.each(cases)('%s P=%i, per-document positions %s', expectPackedStepMatches);
});
