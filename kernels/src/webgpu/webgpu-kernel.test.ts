import * as tf from '@tensorflow/tfjs';
import { initWebgpuBackend } from '@ringtrain/webgpu';
import { describeAttentionKernel } from '../../testing/attention-kernel-suite';
import { disposeBlockInputs, expectClose, makeProblem, striped, toBlockInputs, type ProblemSpec } from '../../testing/helpers';
import { ensureCpuBackend } from '../backend';
import { tfjsKernel } from '../block-attention';
import { toHeadMajor } from '../layout-convert';
import type { AttentionKernel } from '../types';
import { webgpuKernel } from './webgpu-kernel';

/**
 * RINGTRAIN_WEBGPU_TESTS names the adapter this machine must give (`lavapipe`: Mesa's software
 * Vulkan from scripts/lavapipe.sh; `gpu`). Unset, these tests are declared skipped with the
 * reason; set, a backend that does not start fails them.
 */
const want = process.env.RINGTRAIN_WEBGPU_TESTS;
const skipReason = 'RINGTRAIN_WEBGPU_TESTS is not set (eval "$(bash scripts/lavapipe.sh)" to run on lavapipe)';

async function useWebgpu(): Promise<void> {
  const init = await initWebgpuBackend({ allowSoftware: true });
  if (!init.ok) throw new Error(`RINGTRAIN_WEBGPU_TESTS=${want} but the webgpu backend did not start: ${init.reason}`);
}

describeAttentionKernel('webgpuKernel vs the reference', want ? webgpuKernel : null, skipReason, { setup: useWebgpu });

/** Forward and backward (with the kernel's own out/lse as the global ones), read back as arrays. */
async function runBlock(kernel: AttentionKernel, spec: ProblemSpec) {
  const p = makeProblem(spec);
  const inputs = toBlockInputs(p);
  const dout = toHeadMajor(p.dout, p.seqQ, p.heads, p.headDim);
  const fwd = kernel.forward(inputs);
  const g = kernel.backward({ ...inputs, dout, out: fwd.out, lse: fwd.lse });
  const results = [fwd.out, fwd.lse, g.dq, g.dk, g.dv];
  const [out, lse, dq, dk, dv] = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...results, dout]);
  disposeBlockInputs(inputs);
  return { out, lse, dq, dk, dv };
}

(want ? describe : describe.skip)(want ? `webgpuKernel on a larger block (${want})` : `webgpuKernel on a larger block [skipped: ${skipReason}]`, () => {
  beforeAll(useWebgpu);
  afterAll(() => ensureCpuBackend({ quiet: true }));

  test('700x900, D 64, GQA 8/2, causal striped: as tfjsKernel on the cpu backend', async () => {
    // Rank 1 of 2 against rank 0's keys, stretched past the queries: partly visible, ragged tiles.
    const spec: ProblemSpec = { heads: 8, kvHeads: 2, headDim: 64, posQ: striped(1, 2, 1400), posK: striped(0, 2, 1800), causal: true, seed: 7 };
    const gpu = await runBlock(webgpuKernel, spec);
    await ensureCpuBackend({ quiet: true });
    const cpu = await runBlock(tfjsKernel, spec);
    await useWebgpu();
    expectClose('out', gpu.out, cpu.out);
    expectClose('dq', gpu.dq, cpu.dq);
    expectClose('dk', gpu.dk, cpu.dk);
    expectClose('dv', gpu.dv, cpu.dv);
    // Every query sees key 0, so every lse is finite here.
    expectClose('lse', gpu.lse, cpu.lse);
  });
});
