/**
 * Micro benchmark, not a test: tfjs's own CPU kernels vs the fast ones, through the public ops.
 * Run: npx esbuild kernels/src/fast-cpu/benchmark.ts --bundle --platform=node --external:@tensorflow/* --log-level=warning | node
 */
import * as tf from '@tensorflow/tfjs';
import { installFastCpuKernels, uninstallFastCpuKernels } from './install';

const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', 1);

const CASES: Array<{ label: string; inputs: () => tf.Tensor[]; run: (t: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }> = [
  // RMSNorm: x [N,d] · inv [N,1]
  { label: 'mul [2048,64]·[2048,1]', inputs: () => [rand([2048, 64]), rand([2048, 1])], run: ([a, b]) => tf.mul(a, b) },
  // RoPE: x1 [N,H,h] · cos [N,1,h]
  { label: 'mul [2048,4,8]·[2048,1,8]', inputs: () => [rand([2048, 4, 8]), rand([2048, 1, 8])], run: ([a, b]) => tf.mul(a, b) },
  // head split: [B,S,H,Dh] -> [B,H,S,Dh]
  { label: 'transpose [1,2048,4,16] perm [0,2,1,3]', inputs: () => [rand([1, 2048, 4, 16])], run: ([x]) => tf.transpose(x, [0, 2, 1, 3]) },
  // residual add, same shapes (tfjs's fast path already)
  { label: 'add [2048,64]+[2048,64]', inputs: () => [rand([2048, 64]), rand([2048, 64])], run: ([a, b]) => tf.add(a, b) },
  // logSumExp: logits [N,V] - max [N,1]
  { label: 'sub [2048,512]-[2048,1]', inputs: () => [rand([2048, 512]), rand([2048, 1])], run: ([a, b]) => tf.sub(a, b) },
  { label: 'transpose [2048,64] perm [1,0]', inputs: () => [rand([2048, 64])], run: ([x]) => tf.transpose(x) },
  // split of the head dim: x [N,H,Dh] -> [N,H,Dh/2]
  { label: 'slice [2048,4,16] -> [2048,4,8]', inputs: () => [rand([2048, 4, 16])], run: ([x]) => tf.slice(x, [0, 0, 8], [-1, -1, 8]) },
  { label: 'split [2048,4,16] -> 2×[2048,4,8]', inputs: () => [rand([2048, 4, 16])], run: ([x]) => tf.split(x, 2, 2) },
];

/** Median ms of `reps` runs after `warmup` runs. */
function timeMs(f: () => void, reps = 15, warmup = 3): number {
  for (let i = 0; i < warmup; i++) f();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  return ms.sort((x, y) => x - y)[Math.floor(reps / 2)];
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  for (const c of CASES) {
    const inputs = c.inputs();
    const once = () => tf.dispose(c.run(inputs));
    uninstallFastCpuKernels();
    const old = timeMs(once);
    installFastCpuKernels();
    const fast = timeMs(once);
    console.log(`${c.label.padEnd(42)} tfjs ${old.toFixed(2).padStart(8)} ms   fast ${fast.toFixed(3).padStart(7)} ms   ×${(old / fast).toFixed(1)}`);
    inputs.forEach((t) => t.dispose());
  }
  uninstallFastCpuKernels();
}

void main();
