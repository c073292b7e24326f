export * from './layout';
export * from './token-shard';
