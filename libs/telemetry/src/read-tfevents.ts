import { readFileSync } from 'node:fs';
import { RingtrainError } from '@ringtrain/core';
import { EventType } from './event-proto';
import { unframeRecords } from './tfrecord';

export interface TfEvent {
  wallTime: number;
  step: number;
  /** Set on the file's first record only. */
  fileVersion?: string;
  /** Scalar summary values, in the order written. */
  scalars?: { tag: string; value: number }[];
}

/**
 * Every event in a TensorBoard events file. Record lengths and both CRCs of every record are
 * checked, and each record is decoded as a `tensorboard.Event`; anything else is an error
 * naming the file.
 */
export function readTfEvents(file: string): TfEvent[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new RingtrainError('TELEMETRY_READ_FAILED', `Cannot read the TensorBoard events file ${file}: ${(e as Error).message}`, {
      hint: 'Pass the path of an events.out.tfevents.* file.',
      details: { path: file },
      cause: e,
    });
  }
  return unframeRecords(bytes, file).map((data, index) => decodeEvent(data, file, index));
}

function decodeEvent(data: Uint8Array, file: string, index: number): TfEvent {
  let obj: { wall_time: number; step: number; file_version?: string; summary?: { value?: { tag: string; simple_value?: number }[] } };
  try {
    obj = EventType.toObject(EventType.decode(data), { longs: Number, defaults: true, oneofs: false }) as typeof obj;
  } catch (e) {
    throw new RingtrainError('TFRECORD_CORRUPT', `${file}: record ${index} is not a tensorboard.Event: ${(e as Error).message}`, {
      hint: 'The file was not written by a TensorBoard events writer.',
      details: { path: file, record: index },
      cause: e,
    });
  }
  const event: TfEvent = { wallTime: obj.wall_time, step: obj.step };
  if (obj.file_version !== undefined) event.fileVersion = obj.file_version;
  if (obj.summary !== undefined) {
    event.scalars = (obj.summary.value ?? []).flatMap((v) => (v.simple_value === undefined ? [] : [{ tag: v.tag, value: v.simple_value }]));
  }
  return event;
}
