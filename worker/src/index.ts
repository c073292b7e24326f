export * from './attention/problem';
export * from './attention/run-shard';
export * from './strategies/types';
export * from './strategies/registry';
export { kvRange } from './strategies/ulysses';
export { RingComm } from './comm/ring-comm';
export { allToAll } from './comm/all-to-all';
export * from './process/worker-process';
export { attentionJob } from './process/attention-job';
