export * from './errors';
export * from './logger';
export * from './npy';
export * from './random';
