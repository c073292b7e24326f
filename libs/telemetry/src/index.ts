export * from './tensorboard-writer';
export * from './read-tfevents';
export { maskedCrc32c, frameRecord, unframeRecords } from './tfrecord';
export * from './run-metrics';
