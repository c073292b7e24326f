import * as tf from '@tensorflow/tfjs';
import { RingtrainError, type Logger } from '@ringtrain/core';
import type { BackendName } from '@ringtrain/config';
import { ensureCpuBackend, installFastCpuKernels, installNativeKernels, nativeElementwise, nativeKernel, nativeStatus, tfjsKernel, webgpuKernel, type AttentionKernel } from '@ringtrain/kernels';
import { describeAdapter, initWebgpuBackend } from '@ringtrain/webgpu';
import { useNativeElementwise } from './model/fused';
import { useDeviceOps } from './model';

/**
 * Backend choice: `webgpu` = tfjs on WebGPU (Dawn over Vulkan) with ringtrain's WGSL attention,
 * `gpu` = @tensorflow/tfjs-node-gpu, `tensorflow` = @tensorflow/tfjs-node, `native` = tfjs CPU
 * with ringtrain's own kernels (kernels/native, kernels/src/fast-cpu), `cpu` = plain tfjs CPU.
 * `auto` takes the first that loads in that order and says why it passed over the others; under
 * `auto`, webgpu takes only a hardware adapter (a software one, lavapipe, is slower than native).
 */
export interface BackendChoice {
  name: Exclude<BackendName, 'auto'>;
  kernel: AttentionKernel;
  /** What computes: the GPU adapter, or the CPU. */
  device: string;
  /** One line per backend tried and passed over. */
  passedOver: string[];
}

type Attempt = { ok: true; choice: Omit<BackendChoice, 'passedOver'> } | { ok: false; reason: string };

const ORDER: Array<Exclude<BackendName, 'auto'>> = ['webgpu', 'gpu', 'tensorflow', 'native', 'cpu'];

export async function selectBackend(requested: BackendName, logger: Logger): Promise<BackendChoice> {
  const names = requested === 'auto' ? ORDER : [requested];
  const passedOver: string[] = [];
  for (const name of names) {
    const attempt = await tryBackend(name, requested === 'auto', logger);
    if (attempt.ok) {
      const choice = { ...attempt.choice, passedOver };
      // The training step's GELU and RMSNorm: the addon's under `native`, JS under the other host backends.
      useNativeElementwise(name === 'native' ? nativeElementwise() : null);
      // On a device backend the step's local segments stay tfjs ops on the device (no reads between kernels).
      useDeviceOps(name === 'webgpu' || name === 'gpu');
      logger.info(`backend: ${name} on ${choice.device}${requested === 'auto' ? ` (auto; passed over: ${passedOver.join('; ') || 'none'})` : ''}`);
      return choice;
    }
    passedOver.push(`${name}: ${attempt.reason}`);
  }
  throw new RingtrainError('BACKEND_UNAVAILABLE', `backend "${requested}" cannot run here: ${passedOver.join('; ')}`, {
    hint: requested === 'auto' ? 'reinstall with `npm run setup`' : 'use --backend auto (or native / cpu, which need no download)',
  });
}

const CPU = 'cpu';

async function tryBackend(name: Exclude<BackendName, 'auto'>, auto: boolean, logger: Logger): Promise<Attempt> {
  switch (name) {
    case 'webgpu': {
      const init = await initWebgpuBackend({
        allowSoftware: !auto,
        adapterName: process.env.RINGTRAIN_WEBGPU_ADAPTER || undefined,
        onLost: (message) => logger.error(`the GPU device was lost: ${message}`),
        onError: (message) => logger.error(`GPU error: ${message}`),
      });
      if (!init.ok) return { ok: false, reason: init.reason };
      const localRank = Number(process.env.LOCAL_RANK ?? process.env.SLURM_LOCALID ?? 0);
      if (localRank > 0 && !init.adapter.software) {
        // Dawn has no adapter index: on a host with several GPUs the launcher must isolate them.
        logger.info(`local rank ${localRank} runs on the first adapter Dawn lists; on a host with several GPUs each worker must see only its own (docs/gpu.md "Starting the backend")`);
      }
      return { ok: true, choice: { name: 'webgpu', kernel: webgpuKernel, device: describeAdapter(init.adapter) } };
    }
    case 'gpu':
      return tryTfjsNode('@tensorflow/tfjs-node-gpu', 'gpu');
    case 'tensorflow':
      return tryTfjsNode('@tensorflow/tfjs-node', 'tensorflow');
    case 'native': {
      const status = nativeStatus();
      if (!status.loaded) return { ok: false, reason: `native addon not loaded (${status.reason})` };
      await ensureCpuBackend({ quiet: true });
      const installed = installNativeKernels();
      if (!installed.installed) return { ok: false, reason: `native matmul kernels not installed (${installed.reason ?? 'unknown'})` };
      // tfjs's CPU backend walks broadcasts and transposes element by element; ours do not.
      installFastCpuKernels();
      return { ok: true, choice: { name: 'native', kernel: nativeKernel, device: CPU } };
    }
    case 'cpu':
      await ensureCpuBackend({ quiet: true });
      return { ok: true, choice: { name: 'cpu', kernel: tfjsKernel, device: CPU } };
  }
}

async function tryTfjsNode(pkg: string, name: 'gpu' | 'tensorflow'): Promise<Attempt> {
  try {
    // A variable module name keeps the bundler from resolving an optional package.
    const load = require;
    load(pkg);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return { ok: false, reason: `${pkg} is not installed or its native library did not load (${msg}); it downloads libtensorflow at install time` };
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok) return { ok: false, reason: `${pkg} loaded but the tensorflow backend did not initialise` };
  await tf.ready();
  return { ok: true, choice: { name, kernel: tfjsKernel, device: name === 'gpu' ? 'CUDA (libtensorflow)' : CPU } };
}
