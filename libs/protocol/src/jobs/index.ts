export * from './registry';
export * from './kinds';
export type { JobSpec } from './spec';
export type { Parsed } from './schema';
