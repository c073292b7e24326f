import * as tf from '@tensorflow/tfjs';

/**
 * Gradient tensors on their way into the step's Map<string, Float32Array>. Every read is
 * `await t.data()`, the only read GPU backends allow in Node, so it happens outside any tidy
 * or gradient tape (tfjs autodiff is synchronous). A read starts when its tensor is added and
 * runs while the step goes on; flush awaits the pending reads and adds them in the order they
 * were added, so the map's order and the summation order of a parameter with two
 * contributions (the tied embedding) do not depend on which read lands first. The tensors are
 * disposed only after their values were copied into the map (a backend may hand back its own
 * storage).
 */

/** Values coming back for `names`, and the tensors to dispose once they are copied. */
export interface PendingRead {
  values: Promise<Float32Array[]>;
  tensors: tf.Tensor[];
}

/** One tensor's read. */
export function readTensor(t: tf.Tensor): PendingRead {
  return { values: t.data().then((v) => [v as Float32Array]), tensors: [t] };
}

export class GradReads {
  private pending: Array<{ names: readonly string[]; read: PendingRead }> = [];

  constructor(private readonly grads: Map<string, Float32Array>) {}

  /** Takes ownership of `t` (the gradient of `name`). */
  add(name: string, t: tf.Tensor): void {
    this.addRead([name], readTensor(t));
  }

  /** A read whose values are the gradients of `names`, in order; takes ownership of its tensors. */
  addRead(names: readonly string[], read: PendingRead): void {
    // Awaited in flush; until then a failed read must not count as unhandled.
    read.values.catch(() => undefined);
    this.pending.push({ names, read });
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const values = await Promise.all(batch.map((p) => p.read.values));
      batch.forEach((p, i) => p.names.forEach((name, j) => addGrad(this.grads, name, values[i][j])));
    } finally {
      tf.dispose(batch.flatMap((p) => p.read.tensors));
    }
  }
}

/** grads[name] = a copy of g, or += g when the parameter already has a contribution. */
function addGrad(grads: Map<string, Float32Array>, name: string, g: Float32Array): void {
  const prev = grads.get(name);
  if (!prev) {
    grads.set(name, Float32Array.from(g));
    return;
  }
  for (let i = 0; i < prev.length; i++) prev[i] += g[i];
}
