export * from './registry';
export * from './kinds';
export * from './trace';
export type { JobSpec } from './spec';
export type { Parsed } from './schema';
