export * from './version';
export * from './limits';
export * from './tensor';
export * from './messages';
export { encodeFrame, encodeFramePieces, decodeFrame } from './codec';
export { FRAME_MARKER, PREAMBLE_BYTES, PAYLOAD_ALIGN, frameFromHeader, joinFrame, type EncodedFrame } from './frame';
export * from './bulk';
export * from './jobs';
