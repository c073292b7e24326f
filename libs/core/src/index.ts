export * from './errors';
export * from './logger';
export * from './npy';
export * from './random';
export * from './state-machine';
export * from './safetensors';
export * from './listen';
