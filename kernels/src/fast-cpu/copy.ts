import * as tf from '@tensorflow/tfjs';
import { coalesce, contiguousStrides, forEachBlock, sizeOf, type Values } from './strided';
import { numericValues, type CpuBackendLike, type KernelArgs } from './cpu-values';

/** Below this, a contiguous run is copied by a loop: subarray+set costs a view per run. */
const MIN_SET_RUN = 64;
/** Tile edge of the blocked 2-D copy: 32×32 floats of input stay in L1 while they are written. */
const TILE = 32;

/** out [P, Q] (row-major at o) <- x element (p, q) at xi + p·sp + q·sq, in TILE×TILE blocks. */
function copyTiled(out: Values, o: number, x: Values, xi: number, P: number, Q: number, sp: number, sq: number): void {
  for (let p0 = 0; p0 < P; p0 += TILE) {
    const p1 = Math.min(p0 + TILE, P);
    for (let q0 = 0; q0 < Q; q0 += TILE) {
      const q1 = Math.min(q0 + TILE, Q);
      for (let p = p0; p < p1; p++) {
        const ob = o + p * Q;
        const xb = xi + p * sp;
        for (let q = q0; q < q1; q++) out[ob + q] = x[xb + q * sq];
      }
    }
  }
}

/**
 * A new contiguous array [shape] whose element at index (i0, i1, …) is x[base + Σ ik·strides[k]].
 * Runs contiguous in x are copied whole; when the innermost output dim is strided in x
 * (a transpose of the last two dims, e.g. [R,C] -> [C,R]) each outer block is copied tile by tile.
 */
export function stridedCopy(x: Values, dtype: tf.DataType, base: number, shape: number[], strides: number[]): Values {
  const size = sizeOf(shape);
  const out = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
  const walk = coalesce(shape, [strides]);
  const r = walk.shape.length;
  const s = walk.strides[0];
  if (r >= 2 && s[r - 1] !== 1) {
    const [P, Q, sp, sq] = [walk.shape[r - 2], walk.shape[r - 1], s[r - 2], s[r - 1]];
    forEachBlock(walk, 2, base, (o, xi) => copyTiled(out, o, x, xi, P, Q, sp, sq));
    return out;
  }
  const n = r === 0 ? 1 : walk.shape[r - 1];
  const xs = r === 0 ? 1 : s[r - 1];
  forEachBlock(walk, 1, base, (o, xi) => {
    if (xs === 1 && n >= MIN_SET_RUN) out.set(x.subarray(xi, xi + n), o);
    else for (let i = 0; i < n; i++) out[o + i] = x[xi + i * xs];
  });
  return out;
}

/** Transpose (attr perm): out dim k is x dim perm[k], so it steps by x's stride of dim perm[k]. */
export function transposeKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const perm = args.attrs?.perm as number[];
    const backend = args.backend as CpuBackendLike;
    const xv = numericValues(backend, x);
    if (xv === null) return original(args);
    const xStrides = contiguousStrides(x.shape);
    const shape = perm.map((p) => x.shape[p]);
    return backend.makeTensorInfo(shape, x.dtype, stridedCopy(xv, x.dtype, 0, shape, perm.map((p) => xStrides[p])));
  };
}

/** x[begin : begin+size] as a new tensor; a contiguous slice is a view of x's array, as in tfjs. */
function sliceOf(backend: CpuBackendLike, x: tf.TensorInfo, xv: Values, begin: number[], size: number[]): tf.TensorInfo {
  const xStrides = contiguousStrides(x.shape);
  const base = begin.reduce((acc, b, d) => acc + b * xStrides[d], 0);
  const values = tf.slice_util.isSliceContinous(x.shape, begin, size)
    ? xv.subarray(base, base + sizeOf(size))
    : stridedCopy(xv, x.dtype, base, size, xStrides);
  return backend.makeTensorInfo(size, x.dtype, values);
}

/** Slice (attrs begin, size; size -1 = to the end), parsed and checked as tfjs does. */
export function sliceKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const xv = numericValues(backend, x);
    if (xv === null) return original(args);
    const [begin, size] = tf.slice_util.parseSliceParams(x, args.attrs?.begin as number | number[], args.attrs?.size as number | number[]);
    tf.slice_util.assertParamsValid(x, begin, size);
    return sliceOf(backend, x, xv, begin, size);
  };
}

/**
 * SplitV (attrs numOrSizeSplits, axis): tfjs's kernel slices through its internal slice (the slow
 * one), so tf.split, e.g. RoPE's halves of x [N,H,Dh] -> 2 × [N,H,Dh/2], needs its own replacement.
 */
export function splitVKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const xv = numericValues(backend, x);
    if (xv === null) return original(args);
    const axis = tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x, args.attrs?.numOrSizeSplits as number | number[], axis);
    let offset = 0;
    return sizes.map((s) => {
      const begin = x.shape.map((_, k) => (k === axis ? offset : 0));
      offset += s;
      return sliceOf(backend, x, xv, begin, x.shape.map((d, k) => (k === axis ? s : d)));
    });
  };
}
