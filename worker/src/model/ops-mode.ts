/**
 * Which form the training step's token-local ops take. Host (the default): fused.ts and heads.ts
 * read values and loop in JS, the fastest form on the CPU backends (`native`, `cpu`). Device:
 * device-ops.ts and device-heads.ts, tfjs ops only and nothing read, for backends whose values
 * live on an accelerator and can only be read asynchronously (webgpu: dataSync fails in Node).
 * backend.ts sets it when it picks the backend; step-ops.ts and layer-segments.ts ask.
 */
let deviceOps = false;

/** true: token-local ops as device-resident tfjs ops; false: the host (JS) forms. */
export function useDeviceOps(on: boolean): void {
  deviceOps = on;
}

export function deviceOpsOn(): boolean {
  return deviceOps;
}
