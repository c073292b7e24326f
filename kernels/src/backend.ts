import * as tf from '@tensorflow/tfjs';

export interface CpuBackendOptions {
  /**
   * tfjs prints a one-time "install tfjs-node" hint on the first tensor it writes in Node.
   * Quiet makes that first write while tfjs's own log switch (IS_TEST) is on, then restores it.
   * Default false: the hint stays, as tfjs intends.
   */
  quiet?: boolean;
}

/**
 * Makes the pure-JS CPU backend the active tfjs backend and waits until it is ready.
 * The umbrella package also registers webgl, which Node cannot run, so we never rely on
 * tfjs's own priority order to land on cpu.
 */
export async function ensureCpuBackend(opts: CpuBackendOptions = {}): Promise<void> {
  if (tf.getBackend() !== 'cpu') {
    const ok = await tf.setBackend('cpu');
    if (!ok) throw new Error('tfjs could not initialise its cpu backend');
  }
  await tf.ready();
  if (opts.quiet ?? false) {
    const env = tf.env();
    const wasTest = env.getBool('IS_TEST');
    env.set('IS_TEST', true);
    try {
      tf.scalar(0).dispose();
    } finally {
      env.set('IS_TEST', wasTest);
    }
  }
}
