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

const programs = (d: BlockDims, masked: boolean, docs = false) => [
  new FlashForwardProgram(d, masked, docs),
  new FlashQGradProgram(d, masked, docs),
  new FlashKvGradProgram(d, masked, docs),
];

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
    expect(keyTileRows(headDim, true)).toBeGreaterThanOrEqual(1);
    expect(queryTileRows(headDim, true)).toBeGreaterThanOrEqual(1);
    for (const p of programs(dims(headDim), true, true)) expect(workgroupBytes(p.getUserCode())).toBeLessThanOrEqual(WORKGROUP_STORAGE_BYTES);
  });

  test('documents: the test and the staged ids are compiled in only when asked', () => {
    for (const [masked, docs] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      programs(dims(16), masked, docs).forEach((p, i) => {
        const code = p.getUserCode();
        expect({ i, masked, docs, causal: /tilePosK\[j\] <= posQ|tilePosQ\[i\] <= posK|posK <= tilePosQ\[i\]/.test(code) }).toEqual({ i, masked, docs, causal: masked });
        expect({ i, masked, docs, doc: /Doc[QK]/.test(code) }).toEqual({ i, masked, docs, doc: docs });
      });
    }
    // The ids follow the positions in the one int32 buffer: docQ at Sq+Sk, docK at 2Sq+Sk.
    const [fwd, , dkv] = programs(dims(16), false, true);
    expect(fwd.getUserCode()).toContain('Pos[(seqQ + seqK) + row]');
    expect(fwd.getUserCode()).toContain('Pos[(2 * seqQ + seqK) + start + i]');
    expect(dkv.getUserCode()).toContain('Pos[(2 * seqQ + seqK) + key]');
  });

  test('tiles: 64 rows for small head dims, fewer as rows grow', () => {
    expect([keyTileRows(16), keyTileRows(64), keyTileRows(128)]).toEqual([64, 31, 15]);
    expect([queryTileRows(16), queryTileRows(64), queryTileRows(128)]).toEqual([64, 31, 15]);
    // A document id per row costs one more i32: 4096 words / (2·682 + 1) = 3.0, / (2·682 + 2) = 2.997.
    expect([keyTileRows(682), keyTileRows(682, true)]).toEqual([3, 2]);
    expect([queryTileRows(681), queryTileRows(681, true)]).toEqual([3, 2]);
  });

  test('shader keys name every compile-time constant', () => {
    const variants = [
      programs(dims(64), true),
      programs(dims(64), false),
      programs(dims(64), true, true),
      programs(dims(64), false, true),
      programs(dims(32), true),
      programs(dims(64, { kvHeads: 8, group: 1 }), true),
    ];
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

    test('a block that shares no document launches nothing, so it runs on any backend', async () => {
      const q = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const k = tf.zeros([1, 2, 4]) as tf.Tensor3D;
      const pos = Int32Array.from([0, 1, 2]);
      const inp = { q, k, v: k, posQ: pos, posK: Int32Array.from([0, 1]), docQ: Int32Array.from([3, 3, 5]), docK: Int32Array.from([4, 6]), causal: false, scale: 1 };
      const f = webgpuKernel.forward(inp);
      expect(Array.from(await f.lse.data())).toEqual(new Array(6).fill(-Infinity));
      const g = webgpuKernel.backward({ ...inp, dout: q, out: q, lse: f.lse });
      expect((await g.dk.data()).every((x) => x === 0)).toBe(true);
      tf.dispose([q, k, f.out, f.lse, g.dq, g.dk, g.dv]);
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
