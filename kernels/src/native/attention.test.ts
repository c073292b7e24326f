import { describeAttentionKernel } from '../../testing/attention-kernel-suite';
import { createNativeKernel } from './attention';
import { buildsUnderTest } from './native-under-test';

// The same suite as tfjsKernel (block-attention.test.ts), once per native build.
for (const build of buildsUnderTest) {
  const kernel = build.addon ? createNativeKernel(build.addon, { name: `native-${build.variant}` }) : null;
  describeAttentionKernel(`nativeKernel, ${build.label}, vs the reference`, kernel, build.reason ?? undefined);
}
