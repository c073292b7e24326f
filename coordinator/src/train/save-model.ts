import { join } from 'node:path';
import { RingtrainError, writeSafetensors } from '@ringtrain/core';
import type { ModelConfig } from '@ringtrain/config';
import type { Replicas } from '../world/replicas';

/** `__metadata__.format` of the model files ringtrain writes. */
export const MODEL_FILE_FORMAT = 'ringtrain.model/1';

/**
 * Writes the trained parameters to runDir/model.safetensors: every tensor under its parameter
 * name with its real shape (docs/model.md), and the model config in the file's metadata. The
 * state comes from rank 0 in chunks, and the file is written tensor by tensor, atomically.
 */
export async function saveModel(runDir: string, replicas: Replicas, about: { model: ModelConfig; steps: number }): Promise<string> {
  const { state } = await replicas.getState(false);
  const file = join(runDir, 'model.safetensors');
  const tensors = [...state].map(([name, t]) => {
    if (t.dtype !== 'float32') throw new RingtrainError('BAD_RESULT', `parameter ${name} came back as ${t.dtype}; parameters are float32`);
    return { name, shape: t.shape, data: t.data };
  });
  writeSafetensors(file, tensors, { format: MODEL_FILE_FORMAT, model: JSON.stringify(about.model), steps: String(about.steps) });
  return file;
}
