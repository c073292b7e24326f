import { describeAttentionKernel } from '../testing/attention-kernel-suite';
import { tfjsKernel } from './block-attention';

// The shared suite (attention-kernel-suite.ts) also runs against the native kernels in
// native/attention.test.ts: one suite, every backend.
describeAttentionKernel('tfjsKernel vs the reference', tfjsKernel);
