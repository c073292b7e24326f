import * as tf from '@tensorflow/tfjs';
import { float32Values, numericValues, type CpuBackendLike, type KernelArgs } from './cpu-values';

/**
 * UnsortedSegmentSum (the gradient of gather, e.g. of a token embedding): out[s] = Σ x[i] over
 * rows i with segmentIds[i] = s. tfjs's CPU kernel builds a mask per segment (O(rows · segments ·
 * width)); this adds each row once (O(rows · width)). Rows are summed in index order, in float32,
 * like the original. Rows with an id outside [0, numSegments) are dropped, as in tfjs.
 */
export function unsortedSegmentSumKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const numSegments = args.attrs?.numSegments as number;
    const backend = args.backend as CpuBackendLike;
    const xv = float32Values(backend, x);
    const ids = numericValues(backend, segmentIds);
    // Only the common form: ids index the first dim of x.
    if (xv === null || ids === null || segmentIds.shape.length !== 1 || x.shape[0] !== ids.length) return original(args);
    const width = x.shape.slice(1).reduce((a, b) => a * b, 1); // elements per row
    const out = new Float32Array(numSegments * width);
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const o = s * width;
      const r = i * width;
      for (let j = 0; j < width; j++) out[o + j] += xv[r + j];
    }
    return backend.makeTensorInfo([numSegments, ...x.shape.slice(1)], 'float32', out);
  };
}
