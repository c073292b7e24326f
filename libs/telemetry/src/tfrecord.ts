import { crc32c } from '@node-rs/crc32';
import { RingtrainError } from '@ringtrain/core';

/**
 * TFRecord framing, the container of TensorBoard's events files: each record is
 *   uint64 length (LE) | uint32 masked CRC32C of those 8 bytes (LE) | data | uint32 masked CRC32C of data (LE).
 * The mask keeps a CRC of data that itself holds CRCs from looking like a plain CRC.
 */

const MASK_DELTA = 0xa282ead8;
/** Bytes a record adds around its data: length, its CRC, the data's CRC. */
export const RECORD_OVERHEAD_BYTES = 8 + 4 + 4;

export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

/** One record around `data`. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(RECORD_OVERHEAD_BYTES + data.length);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/**
 * The data of every record in `buf`, in order. Both CRCs are checked; a truncated or corrupt
 * record is an error naming `source` and the record's byte offset.
 */
export function unframeRecords(buf: Uint8Array, source: string): Uint8Array[] {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const corrupt = (what: string): RingtrainError =>
      new RingtrainError('TFRECORD_CORRUPT', `${source}: record at byte ${offset} ${what}.`, {
        hint: 'The file is not a whole TFRecord file (truncated, or written by something else).',
        details: { source, offset },
      });
    if (bytes.length - offset < 12) throw corrupt(`is cut short: ${bytes.length - offset} bytes where a 12-byte header belongs`);
    const header = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== maskedCrc32c(header)) throw corrupt('has a length whose CRC does not match');
    const length = bytes.readBigUInt64LE(offset);
    const available = BigInt(bytes.length - offset - RECORD_OVERHEAD_BYTES);
    if (length > available) throw corrupt(`claims ${length} data bytes but only ${available < 0n ? 0n : available} follow`);
    const start = offset + 12;
    const end = start + Number(length);
    const data = bytes.subarray(start, end);
    if (bytes.readUInt32LE(end) !== maskedCrc32c(data)) throw corrupt('has data whose CRC does not match');
    records.push(data);
    offset = end + 4;
  }
  return records;
}
