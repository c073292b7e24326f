import * as tf from '@tensorflow/tfjs';

/**
 * Counts synchronous tensor reads (dataSync, arraySync) while f runs: the reads a GPU backend
 * refuses in Node ("OffscreenCanvas is not defined"), so the device forms must make none.
 */
export function countSyncReads<T>(f: () => T): { result: T; reads: number } {
  const spies = watch();
  try {
    return { result: f(), reads: spies.count() };
  } finally {
    spies.restore();
  }
}

/** countSyncReads for an async f (the model step), the spies on until it settles. */
export async function countSyncReadsAsync<T>(f: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const spies = watch();
  try {
    return { result: await f(), reads: spies.count() };
  } finally {
    spies.restore();
  }
}

function watch() {
  const spies = [jest.spyOn(tf.Tensor.prototype, 'dataSync'), jest.spyOn(tf.Tensor.prototype, 'arraySync')];
  return { count: () => spies.reduce((n, s) => n + s.mock.calls.length, 0), restore: () => spies.forEach((s) => s.mockRestore()) };
}
