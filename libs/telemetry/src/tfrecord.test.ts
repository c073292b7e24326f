import { crc32c } from '@node-rs/crc32';
import { isRingtrainError } from '@ringtrain/core';
import { crc32cReference } from '../testing/crc32c-reference';
import { EVENT_HEX, RECORD_HEX } from '../testing/tfevent-vector';
import { EventType } from './event-proto';
import { frameRecord, maskedCrc32c, unframeRecords } from './tfrecord';

const mask = (crc: number): number => (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;

describe('CRC32C', () => {
  it('gives the check value of "123456789", in the library and in the bitwise reference', () => {
    expect(crc32c(Buffer.from('123456789')) >>> 0).toBe(0xe3069283);
    expect(crc32cReference(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('matches the reference on odd lengths and every byte value', () => {
    const bytes = Uint8Array.from({ length: 1031 }, (_, i) => (i * 151 + 7) & 0xff);
    for (const n of [0, 1, 3, 8, 17, 255, 1031]) expect(crc32c(bytes.subarray(0, n)) >>> 0).toBe(crc32cReference(bytes.subarray(0, n)));
  });

  it('masks as TFRecord does: rotate right by 15, add 0xa282ead8, modulo 2^32', () => {
    const bytes = Buffer.from('ringtrain');
    expect(maskedCrc32c(bytes)).toBe(mask(crc32cReference(bytes)));
    expect(mask(0)).toBe(0xa282ead8);
    expect(mask(0xffffffff)).toBe(0xa282ead7); // 0xffffffff + 0xa282ead8 wraps
  });
});

describe('TFRecord framing', () => {
  it('frames the hand-encoded event into the expected bytes', () => {
    const event = Buffer.from(EVENT_HEX, 'hex');
    expect(event.length).toBe(32);
    expect(Buffer.from(event.subarray(1, 9)).readDoubleLE(0)).toBe(1700000000.5);
    const record = Buffer.from(RECORD_HEX, 'hex');
    expect(record.readUInt32LE(8)).toBe(mask(crc32cReference(record.subarray(0, 8))));
    expect(record.readUInt32LE(44)).toBe(mask(crc32cReference(event)));
    expect(frameRecord(event).toString('hex')).toBe(RECORD_HEX);
  });

  it('encodes that event from the .proto schema to the same bytes', () => {
    const msg = EventType.fromObject({ wall_time: 1700000000.5, step: 7, summary: { value: [{ tag: 'train/loss', simple_value: 2.5 }] } });
    expect(Buffer.from(EventType.encode(msg).finish()).toString('hex')).toBe(EVENT_HEX);
  });

  it('reads back every record of a stream', () => {
    const datas = [Buffer.alloc(0), Buffer.from(EVENT_HEX, 'hex'), Buffer.from('x'.repeat(300))];
    const stream = Buffer.concat(datas.map((d) => frameRecord(d)));
    expect(unframeRecords(stream, 'mem').map((d) => Buffer.from(d).toString('hex'))).toEqual(datas.map((d) => d.toString('hex')));
  });

  it.each([
    ['a flipped length bit', (b: Buffer) => (b[0] ^= 1), /record at byte 0 has a length whose CRC does not match/],
    ['a flipped header CRC bit', (b: Buffer) => (b[9] ^= 1), /length whose CRC does not match/],
    ['a flipped data bit', (b: Buffer) => (b[20] ^= 1), /data whose CRC does not match/],
    ['a flipped data CRC bit', (b: Buffer) => (b[45] ^= 1), /data whose CRC does not match/],
  ])('refuses a record with %s', (_what, corrupt, message) => {
    const record = Buffer.from(RECORD_HEX, 'hex');
    corrupt(record);
    expect(() => unframeRecords(record, 'f')).toThrow(message);
  });

  it('refuses a truncated last record, naming the source and offset', () => {
    const two = Buffer.concat([Buffer.from(RECORD_HEX, 'hex'), Buffer.from(RECORD_HEX, 'hex')]);
    for (const cut of [1, 4, 20, 40]) {
      let error: unknown;
      try {
        unframeRecords(two.subarray(0, two.length - cut), 'run/tb/x');
      } catch (e) {
        error = e;
      }
      expect(isRingtrainError(error) && error.code).toBe('TFRECORD_CORRUPT');
      expect((error as Error).message).toMatch(/^run\/tb\/x: record at byte 48 /);
    }
  });
});
