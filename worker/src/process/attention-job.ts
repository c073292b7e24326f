import type { AttentionKernel } from '@ringtrain/kernels';
import type { Transport, WireTensor } from '@ringtrain/transport';
import { makeProblem, type AttentionProblem } from '../attention/problem';
import { runAttentionShard } from '../attention/run-shard';
import { getStrategy } from '../strategies/registry';
import { bool, int, num, str, tensor } from './job-params';
import type { WorkerState } from './train-jobs';

/** What a job handler gets: this rank's data plane and kernel. */
export interface JobEnv {
  transport: Transport;
  kernel: AttentionKernel;
  /** What outlives one job on this worker (the training replica). */
  state: WorkerState;
}

export interface JobOutput {
  tensors: Record<string, WireTensor>;
  meta: Record<string, number | string | boolean>;
}

/**
 * `attention` job: run one strategy's forward and backward on this rank's shard (what
 * `ringtrain check` sends). Params and tensors are validated here, at the edge.
 */
export async function attentionJob(env: JobEnv, jobId: string, params: Record<string, unknown>, tensors: Record<string, WireTensor>): Promise<JobOutput> {
  const strategy = getStrategy(str(params, 'strategy'));
  const problem = problemFromParams(params);
  const pos = tensor(tensors, 'pos', 'int32');
  const S = pos.shape[0];
  const { heads: H, kvHeads: Hkv, headDim: D } = problem;
  const q = tensor(tensors, 'q', 'float32', [S, H, D]);
  const k = tensor(tensors, 'k', 'float32', [S, Hkv, D]);
  const v = tensor(tensors, 'v', 'float32', [S, Hkv, D]);
  const dout = tensor(tensors, 'dout', 'float32', [S, H, D]);
  const r = await runAttentionShard(env, strategy, problem, {
    q: q.data as Float32Array, k: k.data as Float32Array, v: v.data as Float32Array, dout: dout.data as Float32Array,
    pos: pos.data as Int32Array,
  }, jobId);
  return {
    tensors: {
      out: { dtype: 'float32', shape: [S, H, D], data: r.out },
      dq: { dtype: 'float32', shape: [S, H, D], data: r.dq },
      dk: { dtype: 'float32', shape: [S, Hkv, D], data: r.dk },
      dv: { dtype: 'float32', shape: [S, Hkv, D], data: r.dv },
    },
    meta: { forwardMs: r.forwardMs, backwardMs: r.backwardMs },
  };
}


/** The attention problem a job describes (seqLen, heads, kvHeads, headDim, causal, scale). */
export function problemFromParams(params: Record<string, unknown>): AttentionProblem {
  return makeProblem({
    seqLen: int(params, 'seqLen'),
    heads: int(params, 'heads'),
    kvHeads: int(params, 'kvHeads'),
    headDim: int(params, 'headDim'),
    causal: bool(params, 'causal'),
    scale: num(params, 'scale'),
  });
}
