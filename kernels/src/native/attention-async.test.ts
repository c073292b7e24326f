import * as tf from '@tensorflow/tfjs';
import { backwardAsync, forwardAsync } from '../types';
import { disposeBlockInputs, documentsAt, makeProblem, striped, toBlockInputs } from '../../testing/helpers';
import { tfjsKernel } from '../block-attention';
import { createNativeKernel } from './attention';
import { buildsUnderTest } from './native-under-test';

// The async pair runs the same kernel on libuv's pool: results must be bit-identical to the
// synchronous calls, and the event loop must keep running meanwhile (the ring's overlap).
const problem = makeProblem({ heads: 4, kvHeads: 2, headDim: 24, posQ: striped(1, 3, 301), posK: striped(0, 3, 301), causal: true, seed: 7 });
const packed = { ...problem, docQ: documentsAt(problem.posQ, [0, 50, 51, 170]), docK: documentsAt(problem.posK, [0, 50, 51, 170]) };

for (const build of buildsUnderTest) {
  const d = build.addon ? describe : describe.skip;
  d(`native kernel async (${build.label})`, () => {
    const kernel = createNativeKernel(build.addon!, { name: `native-${build.variant}` });

    test.each([
      ['positions only', problem],
      ['with documents', packed],
    ])('forwardAsync and backwardAsync equal forward and backward bit for bit (%s)', async (_name, p) => {
      const inp = toBlockInputs(p);
      const sync = kernel.forward(inp);
      const async_ = await kernel.forwardAsync!(inp);
      expect(Array.from(async_.out.dataSync())).toEqual(Array.from(sync.out.dataSync()));
      expect(Array.from(async_.lse.dataSync())).toEqual(Array.from(sync.lse.dataSync()));
      const dout = tf.randomNormal(sync.out.shape, 0, 1, 'float32', 3) as tf.Tensor3D;
      const bin = { ...inp, dout, out: sync.out, lse: sync.lse };
      const gs = kernel.backward(bin);
      const ga = await kernel.backwardAsync!(bin);
      for (const key of ['dq', 'dk', 'dv'] as const) expect(Array.from(ga[key].dataSync())).toEqual(Array.from(gs[key].dataSync()));
      tf.dispose([sync.out, sync.lse, async_.out, async_.lse, dout, gs.dq, gs.dk, gs.dv, ga.dq, ga.dk, ga.dv]);
      disposeBlockInputs(inp);
    });

    test('the event loop runs while the kernel works', async () => {
      const big = makeProblem({ heads: 4, kvHeads: 4, headDim: 64, posQ: striped(0, 1, 2048), posK: striped(0, 1, 2048), causal: false, seed: 2 });
      const inp = toBlockInputs(big);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        const r = await kernel.forwardAsync!(inp);
        tf.dispose([r.out, r.lse]);
      } finally {
        clearInterval(timer);
        disposeBlockInputs(inp);
      }
      // A 4 × 2048² forward takes tens of milliseconds; a synchronous call would allow no tick.
      expect(ticks).toBeGreaterThan(0);
    });

    test('the addon checks every argument before queueing, and names the bad one', () => {
      const n = 2 * 8 * 4;
      const f = () => new Float32Array(n);
      const pos = Int32Array.from({ length: 8 }, (_, i) => i);
      expect(() => build.addon!.attentionForwardAsync(f(), f(), f(), pos.subarray(1), pos, null, null, 2, 2, 8, 8, 4, true, 0.5, f(), new Float32Array(16), 1)).toThrow(/posQ has 7 elements, expected 8/);
      expect(() => build.addon!.attentionBackwardAsync(f(), f(), f(), pos, pos, null, null, 2, 2, 8, 8, 4, true, 0.5, f(), f(), new Float32Array(16), f(), new Float32Array(3), f(), 1)).toThrow(/dk has 3 elements/);
    });

    test('document arguments are checked like positions: both or neither, Int32Array, exact length', () => {
      const addon = build.addon!;
      const n = 2 * 8 * 4;
      const f = () => new Float32Array(n);
      const pos = Int32Array.from({ length: 8 }, (_, i) => i);
      const fwd = (docQ: unknown, docK: unknown) => () =>
        addon.attentionForward(f(), f(), f(), pos, pos, docQ as Int32Array, docK as Int32Array, 2, 2, 8, 8, 4, true, 0.5, f(), new Float32Array(16), 1);
      expect(fwd(pos, null)).toThrow(/docQ and docK must both be Int32Arrays or both null/);
      expect(fwd(undefined, pos)).toThrow(/docQ and docK must both be/);
      expect(fwd(pos, pos.subarray(1))).toThrow(/docK has 7 elements, expected 8/);
      expect(fwd(new Float32Array(8), pos)).toThrow(/docQ must be a Int32Array/);
      expect(() =>
        addon.attentionBackwardAsync(f(), f(), f(), pos, pos, pos.subarray(2), pos, 2, 2, 8, 8, 4, true, 0.5, f(), f(), new Float32Array(16), f(), f(), f(), 1),
      ).toThrow(/docQ has 6 elements, expected 8/);
      // Both given and right: runs (null/undefined and arrays are all accepted forms).
      expect(fwd(pos, pos)).not.toThrow();
      expect(fwd(undefined, undefined)).not.toThrow();
    });

    test('a kernel-level shape error rejects the promise', async () => {
      const inp = toBlockInputs(problem);
      await expect(kernel.forwardAsync!({ ...inp, posQ: inp.posQ.subarray(1) })).rejects.toThrow(/posQ|shape/);
      disposeBlockInputs(inp);
    });
  });
}

describe('forwardAsync / backwardAsync on a kernel without an async form', () => {
  test('run its synchronous forward and backward', async () => {
    const inp = toBlockInputs(problem);
    const a = await forwardAsync(tfjsKernel, inp);
    const b = tfjsKernel.forward(inp);
    expect(Array.from(a.out.dataSync())).toEqual(Array.from(b.out.dataSync()));
    const g = await backwardAsync(tfjsKernel, { ...inp, dout: b.out, out: b.out, lse: b.lse });
    expect(g.dk.shape).toEqual([2, inp.posK.length, 24]);
    tf.dispose([a.out, a.lse, b.out, b.lse, g.dq, g.dk, g.dv]);
    disposeBlockInputs(inp);
  });
});
