import { RingtrainError } from '@ringtrain/core';
import type { ModelConfig } from '@ringtrain/config';
import { activeAdapter } from '@ringtrain/webgpu';

/**
 * A GPU adapter binds at most maxStorageBufferBindingSize bytes per tensor (128 MiB on
 * lavapipe, a few GiB on datacenter GPUs). Past it WebGPU fails asynchronously, after work was
 * queued; so each job checks its largest tensors first and refuses with the limit and the size.
 */
export function checkDeviceFits(tensors: ReadonlyArray<readonly [what: string, elements: number]>): void {
  const adapter = activeAdapter();
  if (!adapter) return; // host backends: no per-buffer limit below the process's memory
  const limit = adapter.maxBindingBytes;
  for (const [what, elements] of tensors) {
    const bytes = elements * 4;
    if (bytes > limit) {
      throw new RingtrainError('DEVICE_BUFFER_LIMIT', `${what} needs ${mib(bytes)} in one buffer, over the GPU's limit of ${mib(limit)} per buffer (${adapter.description || adapter.device})`, {
        hint: 'use more workers (shorter shards) or a smaller batch, so each rank\'s tensors fit',
        details: { what, bytes, limit },
      });
    }
  }
}

/** The largest tensors of one model step on a shard of `batch` × `shardLen` tokens. */
export function stepTensors(m: ModelConfig, batch: number, shardLen: number): Array<readonly [string, number]> {
  const rows = batch * shardLen;
  const hidden = m.mlpRatio * m.dModel;
  return [
    [`the logits [${rows}, ${m.vocabSize}]`, rows * m.vocabSize],
    [`the MLP activations [${rows}, ${hidden}]`, rows * hidden],
    [`the q|k|v rows [${rows}, ${(m.heads + 2 * m.kvHeads) * m.headDim}]`, rows * (m.heads + 2 * m.kvHeads) * m.headDim],
    [`the embedding [${m.vocabSize}, ${m.dModel}]`, m.vocabSize * m.dModel],
    [`an MLP weight [${m.dModel}, ${hidden}]`, m.dModel * hidden],
  ];
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
