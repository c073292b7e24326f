import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { RingtrainError } from '@ringtrain/core';
import type { ProgramUniforms } from './wgsl';

/**
 * The active tfjs backend as the WebGPU backend, or a WEBGPU_BACKEND error. The type comes from
 * @tensorflow/tfjs-backend-webgpu, the module never: loading @ringtrain/kernels must not load
 * the webgpu package (libs/webgpu registers it, with the device it chose).
 */
export function activeWebgpuBackend(): WebGPUBackend {
  const name = tf.getBackend();
  if (name !== 'webgpu') {
    throw new RingtrainError('WEBGPU_BACKEND', `the webgpu attention kernel needs the tfjs 'webgpu' backend, but '${name}' is active`, {
      hint: 'Initialise it with initWebgpuBackend() from @ringtrain/webgpu, or use tfjsKernel on other backends.',
      details: { backend: name },
    });
  }
  return tf.backend() as unknown as WebGPUBackend;
}

/** The shaders declare every input as f32 (positions aside): another dtype would be misread. */
export function checkFloat32(tensors: Record<string, tf.Tensor>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32') {
      throw new RingtrainError('KERNEL_DTYPE', `webgpu attention: ${name} must be a float32 tensor, got ${t.dtype}`, {
        hint: 'Cast to float32 before calling the kernel.',
        details: { tensor: name, dtype: t.dtype, shape: t.shape },
      });
    }
  }
}

/**
 * Runs one program and wraps its output as an engine tensor, so tf.tidy and tf.memory() see it
 * like any op's result. Each call needs a fresh program: the backend writes the final shader key
 * and dispatch into it.
 */
export function runProgram(backend: WebGPUBackend, program: WebGPUProgram, inputs: tf.Tensor[], uniforms: ProgramUniforms): tf.Tensor {
  const info = backend.runWebGPUProgram(program, inputs, 'float32', uniforms);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * posQ ++ posK, then with documents ++ docQ ++ docK, as one int32 tensor (one storage buffer:
 * WebGPU guarantees only 8 per shader; see POS_OFFSETS in wgsl.ts).
 */
export function positionsTensor(posQ: Int32Array, posK: Int32Array, docs: [Int32Array, Int32Array] | null = null): tf.Tensor1D {
  const parts = docs === null ? [posQ, posK] : [posQ, posK, ...docs];
  const pos = new Int32Array(parts.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of parts) {
    pos.set(a, at);
    at += a.length;
  }
  return tf.tensor1d(pos, 'int32');
}
