export * from './tokenizer';
export * from './document';
export * from './errors';
export {
  parseDataCursor,
  PAD_DOCUMENT,
  positionsInDocuments,
  PASSKEY_SPLITS,
  type Batch,
  type CopyCursor,
  type DataCursor,
  type Dataset,
  type PackedCursor,
  type PasskeyCursor,
  type PasskeySplit,
} from './dataset';
export { mixSeed, seededPermutation } from './seed';
export { fileKind, loadSource, type FileKind, type LoadedSource, type LoadSourceOptions } from './source';
export { TEXT_EXTENSIONS } from './text-file';
export { TokenStream } from './token-stream';
export * from './packed-dataset';
export * from './passkey';
export * from './passkey-dataset';
export * from './copy-dataset';
export * from './open-dataset';
export * from './held-out';
