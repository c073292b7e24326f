export * from './coordinator';
export * from './local-launcher';
export * from './train/train-run';
export * from './train/shard-batch';
