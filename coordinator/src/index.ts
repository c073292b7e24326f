export * from './coordinator';
export * from './local-launcher';
export * from './world/local-world';
export * from './world/replicas';
export * from './train/train-run';
export * from './train/save-model';
export * from './train/shard-batch';
