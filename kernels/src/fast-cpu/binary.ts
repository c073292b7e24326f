import * as tf from '@tensorflow/tfjs';
import { coalesce, contiguousStrides, forEachBlock, sizeOf } from './strided';
import { float32Values, type CpuBackendLike, type KernelArgs } from './cpu-values';

/**
 * One output run of a broadcasting binary op: out[o+i] = op(a[ai + i·as], b[bi + i·bs]), the
 * steps being 1 or 0 (broadcast). One literal per op so that V8 inlines the op into its loop.
 * Each computes in float64 and rounds once on store, exactly as tfjs's own kernels do.
 */
type RunOp = (out: Float32Array, o: number, a: Float32Array, ai: number, as: number, b: Float32Array, bi: number, bs: number, n: number) => void;

export const BINARY_OPS: Record<string, RunOp> = {
  [tf.Add]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = a[ai + i * as] + b[bi + i * bs];
  },
  [tf.Sub]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = a[ai + i * as] - b[bi + i * bs];
  },
  [tf.Multiply]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = a[ai + i * as] * b[bi + i * bs];
  },
  [tf.RealDiv]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = a[ai + i * as] / b[bi + i * bs];
  },
  [tf.Maximum]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = Math.max(a[ai + i * as], b[bi + i * bs]);
  },
  [tf.Minimum]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) out[o + i] = Math.min(a[ai + i * as], b[bi + i * bs]);
  },
  [tf.SquaredDifference]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let i = 0; i < n; i++) {
      const d = a[ai + i * as] - b[bi + i * bs];
      out[o + i] = d * d;
    }
  },
};

/** An operand's strides along the (right-aligned) output dims: 0 where it is missing or size 1. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : own[d - lead]));
}

/** a [..] op b [..] -> out [broadcast shape], float32. */
export function broadcastBinary(op: RunOp, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[]): { values: Float32Array; shape: number[] } {
  const shape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const out = new Float32Array(sizeOf(shape));
  const walk = coalesce(shape, [broadcastStrides(aShape, shape), broadcastStrides(bShape, shape)]);
  const inner = walk.shape.length - 1;
  const n = inner < 0 ? 1 : walk.shape[inner];
  const as = inner < 0 ? 0 : walk.strides[0][inner];
  const bs = inner < 0 ? 0 : walk.strides[1][inner];
  forEachBlock(walk, 1, 0, (o, ai, bi) => op(out, o, a, ai, as, b, bi, bs, n));
  return { values: out, shape };
}

/** The CPU kernel for `name`: float32 · float32 here, anything else (int32, complex64…) to `original`. */
export function binaryKernel(name: string, original: tf.KernelFunc): tf.KernelFunc {
  const op = BINARY_OPS[name];
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const av = float32Values(backend, a);
    const bv = float32Values(backend, b);
    if (av === null || bv === null) return original(args);
    const { values, shape } = broadcastBinary(op, av, a.shape, bv, b.shape);
    return backend.makeTensorInfo(shape, 'float32', values);
  };
}
