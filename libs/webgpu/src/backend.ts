import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { vulkanHelp, vulkanPresence } from './vulkan';

/**
 * tfjs on WebGPU in Node: Dawn (npm `webgpu`, its prebuilt dawn.node) over Vulkan, with
 * @tensorflow/tfjs-backend-webgpu's kernels. We register the backend ourselves, with the adapter
 * and device we chose, instead of the package's own registration (which needs `navigator.gpu`
 * before it is imported and takes whatever adapter comes first).
 *
 * Adapter choice: Dawn's Node binding asks Vulkan for its physical devices and takes the first
 * whose name contains the `adapter=` flag (RINGTRAIN_WEBGPU_ADAPTER here); it has no index. Several
 * identical GPUs on one host are therefore told apart by what each worker process can open: the
 * launcher gives each worker its own GPU (Slurm `--gpus-per-task` with device cgroups, Kubernetes
 * one GPU per pod, a container per GPU with NVIDIA_VISIBLE_DEVICES), and Dawn's first adapter is
 * then that GPU.
 */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader), not a GPU. */
  software: boolean;
  /** The device's largest buffer and storage binding, in bytes. */
  maxBufferBytes: number;
  maxBindingBytes: number;
}

export type WebgpuInit = { ok: true; adapter: AdapterSummary } | { ok: false; reason: string; software?: AdapterSummary };

export interface WebgpuOptions {
  /** Take a software adapter (an explicit `--backend webgpu` does; `auto` does not). */
  allowSoftware: boolean;
  /** Substring of the adapter's name (Dawn's `adapter=` flag). */
  adapterName?: string;
  /** Called if the device is lost later (driver reset, out of memory). */
  onLost?: (message: string) => void;
  /**
   * Called with each validation or out-of-memory error no one caught (a shader that does not
   * compile, a buffer over a limit): WebGPU reports them asynchronously and the work just does
   * not happen, so they must at least be logged.
   */
  onError?: (message: string) => void;
}

let active: AdapterSummary | null = null;

/** The adapter the webgpu backend runs on, once initWebgpuBackend succeeded in this process. */
export function activeAdapter(): AdapterSummary | null {
  return active;
}

/** One line naming the adapter, for logs and reports. */
export function describeAdapter(a: AdapterSummary): string {
  return `${a.description || a.device || 'unnamed adapter'} (${a.vendor || 'unknown vendor'}${a.software ? ', software' : ''})`;
}

/**
 * Makes tfjs's active backend WebGPU on a Vulkan adapter, or says why it cannot. Checks the
 * Vulkan loader and driver manifests first (without them Dawn is never loaded).
 */
export async function initWebgpuBackend(opts: WebgpuOptions): Promise<WebgpuInit> {
  if (active) {
    if (tf.getBackend() !== 'webgpu') await tf.setBackend('webgpu');
    return { ok: true, adapter: active };
  }
  const presence = vulkanPresence();
  if (!presence.loader || presence.icds.length === 0) return { ok: false, reason: vulkanHelp(presence) };

  let dawn: DawnModule;
  try {
    dawn = loadDawn();
  } catch (e) {
    return { ok: false, reason: `Dawn (npm "webgpu") did not load: ${(e as Error).message.split('\n')[0]}; reinstall with \`npm ci\`` };
  }
  const flags = opts.adapterName ? [`adapter=${opts.adapterName}`] : [];
  let adapter: GpuAdapterLike | null;
  try {
    const gpu = dawn.create(flags);
    // The backend checks for `navigator.gpu` (Node 20 has no navigator; Node 21+ has one without gpu).
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    if (!g.navigator!.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `Dawn could not choose an adapter: ${(e as Error).message.split('\n').join(' ')}` };
  }
  if (!adapter) {
    return {
      ok: false,
      reason:
        `Vulkan has drivers (${presence.icds.join(', ')}) but Dawn found no adapter it can use: ` +
        'Mesa older than 23 is refused (Dawn needs shaderUniform*ArrayDynamicIndexing; Debian bookworm: mesa-vulkan-drivers from bookworm-backports); ' +
        "on NVIDIA check that `nvidia-smi` sees the GPU and that the ICD's library (libGLX_nvidia.so.0) is present — in a container, NVIDIA_DRIVER_CAPABILITIES must include \"graphics\"",
    };
  }
  const summary = summarize(adapter);
  if (summary.software && !opts.allowSoftware) {
    return { ok: false, reason: `only a software adapter was found (${describeAdapter(summary)}); pass --backend webgpu to use it anyway`, software: summary };
  }
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  void device.lost.then((info) => opts.onLost?.(info.message));
  device.addEventListener?.('uncapturederror', (ev) => opts.onError?.((ev as { error?: { message?: string } }).error?.message ?? 'unknown GPU error'));
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode… which the backend reads as globals
  const { WebGPUBackend } = requireOptional('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend };
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter!.info), 0);
  // Small ops on values still on the host would run on the CPU backend and come back: keep every op on the device.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: 'the tfjs webgpu backend did not initialise on this adapter' };
  await tf.ready();
  active = summary;
  return { ok: true, adapter: summary };
}

interface GpuAdapterLike {
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  limits: Record<string, number>;
  features: { has(name: string): boolean };
  requestDevice(desc: unknown): Promise<{ lost: Promise<{ message: string }>; addEventListener?: (type: string, listener: (ev: unknown) => void) => void }>;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(opts: unknown): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

function loadDawn(): DawnModule {
  if (process.platform !== 'linux') throw new Error(`ringtrain runs Dawn on Linux only (this is ${process.platform})`);
  const root = path.dirname(requireResolve('webgpu/package.json'));
  return requireOptional(path.join(root, 'dist', `linux-${process.arch}`, 'dawn.node')) as DawnModule;
}

function summarize(adapter: GpuAdapterLike): AdapterSummary {
  const { vendor, architecture, device, description, isFallbackAdapter } = adapter.info;
  const text = `${device} ${description}`;
  return {
    vendor,
    architecture,
    device,
    description,
    software: isFallbackAdapter === true || architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(text),
    maxBufferBytes: adapter.limits.maxBufferSize,
    maxBindingBytes: adapter.limits.maxStorageBufferBindingSize,
  };
}

/** The adapter's own limits, asked for in full (WebGPU's defaults are far below a GPU's). */
function deviceDescriptor(adapter: GpuAdapterLike) {
  const names = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  const requiredLimits = Object.fromEntries(names.map((n) => [n, adapter.limits[n]]));
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  return { requiredLimits, requiredFeatures };
}

// A variable module name keeps the bundler from resolving optional and native modules.
const load = require;
function requireOptional(id: string): unknown {
  return load(id);
}
function requireResolve(id: string): string {
  return load.resolve(id);
}
