import { createHash } from 'node:crypto';
import type { Logger } from '@ringtrain/core';
import { OPTIM_DEFAULTS, checkModelConfig, type ModelConfig } from '@ringtrain/config';
import { withLocalWorld } from '@ringtrain/coordinator';
import { countParams } from '@ringtrain/worker';

export interface StateBenchOptions {
  workers: number;
  /** Parameter bytes wanted; the model is the first of d 1024 with enough layers. */
  targetBytes: number;
  maxFrameBytes: number;
  logger: Logger;
  workerCommand: readonly string[];
}

export interface StateBenchReport {
  model: ModelConfig;
  stateBytes: number;
  tensors: number;
  maxFrameBytes: number;
  getStateSec: number;
  getStateBytesPerSec: number;
  setStateSec: number;
  /** The state's sha256 in parameter order, as received, equals the workers' hash. */
  hashOk: boolean;
  /** Resident set of this (receiving) process before the transfer, and its peak. */
  receiverRssBeforeBytes: number;
  receiverPeakRssBytes: number;
}

/**
 * `ringtrain bench state`: streams a model's parameters from the workers to this process
 * (get-state) and back (set-state) in chunks within `maxFrameBytes`, and reports the rate and
 * this process's memory: it should grow by the state plus a few chunks, never by a copy of it.
 */
export async function runStateBench(o: StateBenchOptions): Promise<StateBenchReport> {
  const model = modelOfSize(o.targetBytes);
  const stateBytes = countParams(model) * 4;
  o.logger.info(`model d ${model.dModel} × ${model.layers} layers: ${(stateBytes / 2 ** 20).toFixed(0)} MiB of parameters; frames of at most ${(o.maxFrameBytes / 2 ** 20).toFixed(1)} MiB`);
  return withLocalWorld(
    { workers: o.workers, logger: o.logger, workerCommand: o.workerCommand, jobTimeoutMs: 600_000, wsOptions: { maxFrameBytes: o.maxFrameBytes } },
    async ({ replicas }) => {
      await replicas.init({ model, optim: { ...OPTIM_DEFAULTS, totalSteps: 1 }, seed: 1, strategy: 'ring' });
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const t0 = performance.now();
      const { state, hash } = await replicas.getState(false);
      const getStateSec = (performance.now() - t0) / 1000;
      peak = Math.max(peak, process.memoryUsage().rss);
      clearInterval(sampler);
      const h = createHash('sha256');
      for (const t of state.values()) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const hashOk = h.digest('hex') === hash;
      const t1 = performance.now();
      const back = await replicas.setState(state);
      const setStateSec = (performance.now() - t1) / 1000;
      return {
        model,
        stateBytes,
        tensors: state.size,
        maxFrameBytes: o.maxFrameBytes,
        getStateSec,
        getStateBytesPerSec: stateBytes / getStateSec,
        setStateSec,
        hashOk: hashOk && back === hash,
        receiverRssBeforeBytes: before,
        receiverPeakRssBytes: peak,
      };
    },
  );
}

function modelOfSize(bytes: number): ModelConfig {
  const base = { vocabSize: 258, dModel: 1024, heads: 8, kvHeads: 8, headDim: 128, mlpRatio: 4, ropeBase: 10000, normEps: 1e-5, initStd: 0.02, prevTokenEmbed: 0 };
  let layers = 1;
  while (countParams({ ...base, layers }) * 4 < bytes) layers++;
  return checkModelConfig({ ...base, layers });
}
