import type { AttentionKernel } from '@ringtrain/kernels';
import type { JobKind, JobRequest, JobResult } from '@ringtrain/protocol';
import type { Transport } from '@ringtrain/transport';
import type { Strategy } from '../strategies/types';
import type { TrainSession } from '../train/train-session';

/** What outlives one job on this worker: the training replica, once `train-init` built it. */
export interface WorkerState {
  train: TrainSession | null;
  /** The strategy `train-init` named (hybrid: with its degree). */
  strategy: Strategy | null;
}

/** What a job handler gets: this rank's data plane, kernel and state. */
export interface JobEnv {
  transport: Transport;
  kernel: AttentionKernel;
  state: WorkerState;
}

export type JobHandler<K extends JobKind> = (env: JobEnv, request: JobRequest<K>, jobId: string) => Promise<JobResult<K>>;

/** One handler per job kind, typed by kind. */
export type JobHandlers = { [K in JobKind]: JobHandler<K> };
