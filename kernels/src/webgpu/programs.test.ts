import * as tf from '@tensorflow/tfjs';
import { RingtrainError } from '@ringtrain/core';
import { ensureCpuBackend } from '../backend';
import type { BlockDims } from '../block-dims';
import { FlashKvGradProgram } from './flash-backward-kv';
import { FlashQGradProgram } from './flash-backward-q';
import { FlashForwardProgram } from './flash-forward';
import { checkLaunchable, keyTileRows, queryTileRows, WORKGROUP_STORAGE_BYTES } from './tiles';
import { webgpuKernel } from './webgpu-kernel';

// What can be checked without a GPU: the shader text's budgets, keys and grids, and the errors.

const dims = (headDim: number, over: Partial<BlockDims> = {}): BlockDims => ({ heads: 8, kvHeads: 2, group: 4, seqQ: 700, seqK: 900, headDim, ...over });

const programs = (d: BlockDims, masked: boolean) => [new FlashForwardProgram(d, masked), new FlashQGradProgram(d, masked), new FlashKvGradProgram(d, masked)];

/** Bytes of every `var<workgroup> x : array<f32|i32, N>` in a shader. */
function workgroupBytes(code: string): number {
  const decls = [...code.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(?:f32|i32),\s*(\d+)>/g)];
  expect(decls.length).toBeGreaterThan(0);
  return decls.reduce((sum, m) => sum + 4 * Number(m[1]), 0);
}

describe('flash programs (no GPU needed)', () => {
  test.each([1, 4, 13, 33, 64, 128, 256, 1000, 2046])('head dim %i: tiles fit WebGPU’s minimum workgroup memory', (headDim) => {
    expect(keyTileRows(headDim)).toBeGreaterThanOrEqual(1);
    expect(queryTileRows(headDim)).toBeGreaterThanOrEqual(1);
    for (const p of programs(dims(headDim), true)) expect(workgroupBytes(p.getUserCode())).toBeLessThanOrEqual(WORKGROUP_STORAGE_BYTES);
  });

  test('tiles: 64 rows for small head dims, fewer as rows grow', () => {
    expect([keyTileRows(16), keyTileRows(64), keyTileRows(128)]).toEqual([64, 31, 15]);
    expect([queryTileRows(16), queryTileRows(64), queryTileRows(128)]).toEqual([64, 31, 15]);
  });

  test('shader keys name every compile-time constant', () => {
    const variants = [programs(dims(64), true), programs(dims(64), false), programs(dims(32), true), programs(dims(64, { kvHeads: 8, group: 1 }), true)];
    for (let i = 0; i < 3; i++) {
      const keys = variants.map((v) => v[i].shaderKey);
      expect(new Set(keys).size).toBe(keys.length);
    }
    // Lengths and the scale are uniforms: they do not change the shader.
    const a = programs(dims(64), true);
    const b = programs(dims(64, { seqQ: 5, seqK: 3 }), true);
    a.forEach((p, i) => {
      expect(p.shaderKey).toBe(b[i].shaderKey);
      expect(p.getUserCode()).toBe(b[i].getUserCode());
    });
  });

  test('grids: one workgroup per 64 rows, per head', () => {
    const [fwd, dq, dkv] = programs(dims(64), true);
    expect(fwd.dispatch).toEqual([11, 8, 1]);
    expect(dq.dispatch).toEqual([11, 8, 1]);
    expect(dkv.dispatch).toEqual([15, 2, 1]);
    expect(fwd.outputShape).toEqual([8, 700, 65]);
    expect(dkv.outputShape).toEqual([2, 900, 128]);
  });

  test('refuses what cannot launch with KERNEL_SHAPE', () => {
    expect(() => checkLaunchable(dims(2047))).toThrow(/workgroup memory/);
    expect(() => checkLaunchable(dims(8, { seqK: 65536 * 64 }))).toThrow(/per dimension/);
    expect(() => checkLaunchable(dims(2047))).toThrow(RingtrainError);
  });

  describe('on the cpu backend', () => {
    beforeAll(() => ensureCpuBackend({ quiet: true }));

    test('a visible block asks for the webgpu backend (WEBGPU_BACKEND)', () => {
      const q = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const k = tf.zeros([1, 3, 4]) as tf.Tensor3D;
      const pos = Int32Array.from([0, 1, 2]);
      const call = () => webgpuKernel.forward({ q, k, v: k, posQ: pos, posK: pos, causal: true, scale: 1 });
      expect(call).toThrow(expect.objectContaining({ code: 'WEBGPU_BACKEND' }));
      tf.dispose([q, k]);
    });

    test('a fully masked block launches nothing, so it runs on any backend', async () => {
      const q = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const k = tf.zeros([1, 2, 4]) as tf.Tensor3D;
      const f = webgpuKernel.forward({ q, k, v: k, posQ: Int32Array.from([0, 1, 2]), posK: Int32Array.from([5, 6]), causal: true, scale: 1 });
      expect(Array.from(await f.lse.data())).toEqual(new Array(6).fill(-Infinity));
      expect((await f.out.data()).every((x) => x === 0)).toBe(true);
      tf.dispose([q, k, f.out, f.lse]);
    });
  });
});
