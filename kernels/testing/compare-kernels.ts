/**
 * Test-only (not exported): runs a fast kernel and the tfjs kernel it replaces on the same
 * tensors and demands the same outcome: the same error, or the same shape, dtype and bits.
 */
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from './helpers';

type Values = Float32Array | Int32Array | Uint8Array;
type Output = { shape: number[]; dtype: tf.DataType; values: Values };
type Outcome = { error: string } | { outputs: Output[] };

function run(kernel: tf.KernelFunc, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): Outcome {
  const backend = tf.backend() as tf.KernelBackend & { disposeIntermediateTensorInfo(t: tf.TensorInfo): void };
  let infos: tf.TensorInfo[];
  try {
    infos = [kernel({ inputs, backend, attrs })].flat();
  } catch (e) {
    return { error: (e as Error).message };
  }
  return {
    outputs: infos.map((info) => {
      const values = (backend.readSync(info.dataId) as Values).slice();
      backend.disposeIntermediateTensorInfo(info);
      return { shape: info.shape, dtype: info.dtype, values };
    }),
  };
}

/** The index of the first element whose bits differ (so NaN, -0 and ±inf count), or -1. */
function firstBitMismatch(a: Values, b: Values): number {
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return Math.floor(i / a.BYTES_PER_ELEMENT);
  return -1;
}

export function expectSameAsOriginal(what: string, fast: tf.KernelFunc, original: tf.KernelFunc, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap = {}): void {
  const want = run(original, inputs, attrs);
  const got = run(fast, inputs, attrs);
  if ('error' in want || 'error' in got) {
    expect({ what, ...got }).toEqual({ what, ...want });
    return;
  }
  const header = (o: Output[]) => ({ what, outputs: o.map(({ shape, dtype, values }) => ({ shape, dtype, length: values.length })) });
  expect(header(got.outputs)).toEqual(header(want.outputs));
  got.outputs.forEach((g, k) => {
    const i = firstBitMismatch(g.values, want.outputs[k].values);
    if (i >= 0) throw new Error(`${what}: output ${k} element ${i} is ${g.values[i]}, tfjs gives ${want.outputs[k].values[i]}`);
  });
}

/** Seeded values, about one in eight special (0, -0, ±inf, NaN, small integers); the rest in [-2, 2). */
export function randomTensor(shape: number[], dtype: 'float32' | 'int32', rand: () => number): tf.Tensor {
  const specials = [0, -0, Infinity, -Infinity, NaN, 1, -1, 3];
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'int32') return tf.tensor(Int32Array.from({ length: n }, () => Math.floor(rand() * 2001) - 1000), shape, 'int32');
  const values = Float32Array.from({ length: n }, () => (rand() < 0.125 ? specials[Math.floor(rand() * specials.length)] : 4 * rand() - 2));
  return tf.tensor(values, shape, 'float32');
}

export { seededRandom };
