import type { JobRequest } from '@ringtrain/protocol';
import { checkDeviceFits } from '../device-limits';
import { makeProblem, type AttentionProblem } from '../attention/problem';
import { runAttentionShard } from '../attention/run-shard';
import { getStrategy } from '../strategies/registry';
import type { JobHandler } from './job-env';

/**
 * `attention` job: run one strategy's forward and backward on this rank's shard (what
 * `ringtrain check` sends). The request arrives validated against its schema (libs/protocol jobs).
 */
export const attentionJob: JobHandler<'attention'> = async (env, { params, tensors }, jobId) => {
  const { pos, doc, q, k, v, dout } = tensors;
  // Every strategy holds tensors of a shard's size (Ulysses: H/P heads of the whole sequence, as many values).
  checkDeviceFits([[`this rank's q [${q.shape.join(', ')}]`, q.data.length]]);
  const r = await runAttentionShard(env, getStrategy(params.strategy, { ulyssesDegree: params.ulyssesDegree }), problemOf(params), { q: q.data, k: k.data, v: v.data, dout: dout.data, pos: pos.data, doc: doc?.data }, jobId);
  return {
    meta: { forwardMs: r.forwardMs, backwardMs: r.backwardMs },
    tensors: {
      out: { dtype: 'float32', shape: q.shape, data: r.out },
      dq: { dtype: 'float32', shape: q.shape, data: r.dq },
      dk: { dtype: 'float32', shape: k.shape, data: r.dk },
      dv: { dtype: 'float32', shape: k.shape, data: r.dv },
    },
  };
};

/** The attention problem a job describes (the same on every rank). */
export function problemOf(params: JobRequest<'attention'>['params']): AttentionProblem {
  return makeProblem(params);
}
