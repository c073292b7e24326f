import * as tf from '@tensorflow/tfjs';
import { ensureCpuBackend } from './backend';
import { fromHeadMajor, fromHeadMajor2D, toHeadMajor, toHeadMajor2D } from './layout-convert';

beforeAll(() => ensureCpuBackend({ quiet: true }));

describe('sequence-major <-> head-major', () => {
  const [S, H, D] = [3, 4, 5];
  // Each value encodes its own (s, h, d), so a misplaced element names where it came from.
  const code = (s: number, h: number, d: number) => s * 100 + h * 10 + d;
  const seqMajor = Float32Array.from({ length: S * H * D }, (_, i) => code(Math.floor(i / (H * D)), Math.floor(i / D) % H, i % D));

  test('toHeadMajor puts [s, h, d] at [h, s, d]', () => {
    const t = toHeadMajor(seqMajor, S, H, D);
    expect(t.shape).toEqual([H, S, D]);
    const a = t.arraySync();
    for (let s = 0; s < S; s++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) expect(a[h][s][d]).toBe(code(s, h, d));
    t.dispose();
  });

  test('fromHeadMajor inverts it and returns a copy', () => {
    const t = toHeadMajor(seqMajor, S, H, D);
    const back = fromHeadMajor(t);
    expect(Array.from(back)).toEqual(Array.from(seqMajor));
    back[0] = -1;
    expect(t.dataSync()[0]).toBe(code(0, 0, 0)); // the tensor did not change
    t.dispose();
  });

  test('2D ([S, H] <-> [H, S]) for lse, -Infinity preserved', () => {
    const lse = Float32Array.from([0, 1, 2, 3, 4, -Infinity]); // [S=3, H=2]
    const t = toHeadMajor2D(lse, 3, 2);
    expect(t.arraySync()).toEqual([
      [0, 2, 4],
      [1, 3, -Infinity],
    ]);
    expect(Array.from(fromHeadMajor2D(t))).toEqual(Array.from(lse));
    t.dispose();
  });

  test('rejects data that does not fill the shape', () => {
    const before = tf.memory().numTensors;
    expect(() => toHeadMajor(new Float32Array(7), 2, 2, 2)).toThrow(/do not fill/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
