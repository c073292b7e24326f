import { join } from 'node:path';
import { TensorBoardWriter } from '@ringtrain/telemetry';
import type { TrainEvent } from './train-run';

/**
 * The run's scalars as TensorBoard event files in RUN/tb (`tensorboard --logdir RUN/tb`): the
 * training curves per step and each held-out evaluation. Each session of a run (a resume, a
 * restart) appends a file of its own; TensorBoard reads them as one run.
 */
export class TensorBoardLog {
  private readonly writer: TensorBoardWriter;

  constructor(runDir: string) {
    this.writer = new TensorBoardWriter(join(runDir, 'tb'));
  }

  train(e: TrainEvent): void {
    if (e.event === 'step') {
      const m = e.metrics;
      this.writer.scalars(m.step, {
        'train/loss': m.loss,
        'train/lr': m.lr,
        'train/grad_norm': m.gradNorm,
        'train/tokens_per_sec': m.tokensPerSec,
        ...(m.taskAccuracy === undefined ? {} : { 'train/task_accuracy': m.taskAccuracy }),
        'time/step_ms': m.stepMs,
        'time/compute_ms': m.computeMs,
        'time/comm_ms': m.commMs,
        'time/allreduce_ms': m.allReduceMs,
        'time/optimizer_ms': m.optimizerMs,
        ...(m.checkpointHeldMs === undefined ? {} : { 'time/checkpoint_held_ms': m.checkpointHeldMs }),
      });
    } else if (e.event === 'eval') {
      const r = e.result;
      this.writer.scalars(r.step, {
        'eval/loss': r.loss,
        ...(r.bitsPerByte === null ? {} : { 'eval/bits_per_byte': r.bitsPerByte }),
        ...(r.passkeyAccuracy === undefined ? {} : { 'eval/passkey_accuracy': r.passkeyAccuracy }),
      });
    } else if (e.event === 'done' || e.event === 'stopped') {
      this.writer.close();
    }
  }
}
