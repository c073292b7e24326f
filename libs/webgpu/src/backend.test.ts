import * as tf from '@tensorflow/tfjs';
import { activeAdapter, initWebgpuBackend } from './backend';
import { vulkanHelp, vulkanPresence } from './vulkan';

/**
 * RINGTRAIN_WEBGPU_TESTS says what adapter this machine must give: `lavapipe` (CI: Mesa's
 * software Vulkan, scripts/lavapipe.sh) or `gpu` (a GPU host). Unset, the webgpu tests are skipped
 * with a note; set, a wrong kind of adapter fails — a GPU run can never pass on lavapipe by mistake.
 */
const want = process.env.RINGTRAIN_WEBGPU_TESTS;
const describeGpu = want ? describe : describe.skip;

describe('vulkanPresence', () => {
  it('names what is missing and how to install it', () => {
    const p = vulkanPresence({ LD_LIBRARY_PATH: '/nonexistent', VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(p.icds).toEqual([]);
    const help = vulkanHelp({ loader: null, icds: [] });
    expect(help).toContain('apt-get install libvulkan1');
    expect(help).toContain('NVIDIA_DRIVER_CAPABILITIES');
    expect(help).toContain('bookworm-backports');
  });

  it('finds the driver manifests listed in VK_ICD_FILENAMES', () => {
    const listed = `${__filename}:/nonexistent/x.json`;
    expect(vulkanPresence({ VK_ICD_FILENAMES: listed }).icds).toEqual([__filename]);
  });
});

describeGpu(`webgpu backend (${want})`, () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it(`runs on the adapter this machine must have (${want})`, async () => {
    const init = await initWebgpuBackend({ allowSoftware: true });
    if (!init.ok) throw new Error(init.reason);
    expect(tf.getBackend()).toBe('webgpu');
    expect(activeAdapter()).toEqual(init.adapter);
    expect(init.adapter.software).toBe(want === 'lavapipe');
    if (want === 'lavapipe') expect(`${init.adapter.device} ${init.adapter.description}`).toMatch(/llvmpipe/);
  });

  it('computes a matmul and its gradient as the cpu backend does', async () => {
    const a = Float32Array.from({ length: 37 * 29 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 29 * 41 }, (_, i) => Math.cos(i * 0.7));
    const run = async () => {
      const [x, y] = [tf.tensor2d(a, [37, 29]), tf.tensor2d(b, [29, 41])];
      const [gx] = tf.grads((p: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, y))))([x]);
      const out = [await tf.matMul(x, y).data(), await gx.data()];
      tf.dispose([x, y, gx]);
      return out;
    };
    const gpu = await run();
    await tf.setBackend('cpu');
    const cpu = await run();
    await tf.setBackend('webgpu');
    for (let i = 0; i < 2; i++) {
      const scale = Math.max(...Array.from(cpu[i], Math.abs));
      const err = Math.max(...Array.from(gpu[i], (v, j) => Math.abs(v - cpu[i][j])));
      expect(err / scale).toBeLessThan(1e-5);
    }
  });
});
