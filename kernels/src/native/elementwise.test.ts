import { randomArray, seededRandom } from '../../testing/helpers';
import { nativeElementwise } from './elementwise';
import { buildsUnderTest } from './native-under-test';

/**
 * The addon's GELU and RMSNorm against float64 formulas, on sizes that leave a scalar tail after
 * the vector loop. (worker/src/model/fused.test.ts checks them again as tfjs ops, with autodiff.)
 */

const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;
const gelu64 = (x: number) => 0.5 * x * (1 + Math.tanh(C * (x + A * x ** 3)));
const geluGrad64 = (x: number) => {
  const t = Math.tanh(C * (x + A * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * A * x * x);
};

/** max |a − b| / max(1, max |b|): fp32 results against float64 references. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let ref = 1;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return err / ref;
}

for (const build of buildsUnderTest) {
  const ops = build.addon && nativeElementwise({ variant: build.variant });
  (ops ? describe : describe.skip)(`${build.label}: GELU and RMSNorm`, () => {
    const rng = seededRandom(4);

    test('GELU forward and backward on 37 values, tails included', () => {
      const x = Float32Array.from([...randomArray(29, rng, 3), -100, -30, -9, -4.7, 0, 4.7, 9, 100]);
      const dy = randomArray(x.length, rng);
      const y = new Float32Array(x.length);
      const dx = new Float32Array(x.length);
      ops!.geluForward(x, y);
      ops!.geluBackward(x, dy, dx);
      expect(relErr(y, Array.from(x, gelu64))).toBeLessThan(1e-6);
      expect(relErr(dx, Array.from(x, (v, i) => dy[i] * geluGrad64(v)))).toBeLessThan(1e-6);
    });

    test('RMSNorm forward and backward on [41, 19]', () => {
      const [rows, d, eps] = [41, 19, 1e-5];
      const x = randomArray(rows * d, rng, 2);
      const g = Float32Array.from(randomArray(d, rng, 0.3), (v) => v + 1);
      const dy = randomArray(rows * d, rng);
      const [y, inv, dx, dg] = [new Float32Array(rows * d), new Float32Array(rows), new Float32Array(rows * d), new Float32Array(d).fill(7)];
      ops!.rmsNormForward(x, g, eps, y, inv);
      ops!.rmsNormBackward(x, g, inv, dy, dx, dg);
      const [wy, wdx, wdg] = [new Float64Array(rows * d), new Float64Array(rows * d), new Float64Array(d)];
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        let s = 0;
        let dot = 0;
        for (let j = 0; j < d; j++) s += x[o + j] ** 2;
        const ir = 1 / Math.sqrt(s / d + eps);
        expect(Math.abs(inv[r] - ir) / ir).toBeLessThan(1e-6);
        for (let j = 0; j < d; j++) dot += x[o + j] * g[j] * dy[o + j];
        for (let j = 0; j < d; j++) {
          wy[o + j] = x[o + j] * ir * g[j];
          wdx[o + j] = ir * (g[j] * dy[o + j] - (x[o + j] * ir * ir * dot) / d);
          wdg[j] += dy[o + j] * x[o + j] * ir;
        }
      }
      expect(relErr(y, wy)).toBeLessThan(1e-6);
      expect(relErr(dx, wdx)).toBeLessThan(1e-6);
      expect(relErr(dg, wdg)).toBeLessThan(1e-6); // written over the 7s, not added to them
    });

    test('lengths that do not match are refused before any memory is touched', () => {
      expect(() => ops!.geluForward(new Float32Array(5), new Float32Array(4))).toThrow(/y has 4 elements, expected 5/);
      expect(() => ops!.rmsNormForward(new Float32Array(10), new Float32Array(3), 1e-5, new Float32Array(10), new Float32Array(3))).toThrow(/whole rows/);
      expect(() => ops!.rmsNormBackward(new Float32Array(6), new Float32Array(3), new Float32Array(2), new Float32Array(6), new Float32Array(6), new Float32Array(2))).toThrow(/dg has 2 elements/);
    });
  });
}
