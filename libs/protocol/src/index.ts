export * from './version';
export * from './limits';
export * from './tensor';
export * from './messages';
export { encodeFrame, decodeFrame } from './codec';
export * from './bulk';
export * from './jobs';
