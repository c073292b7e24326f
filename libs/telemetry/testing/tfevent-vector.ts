/** Hand-encoded TensorBoard bytes that the writer and the framing are checked against. */

/**
 * One Event, encoded by hand: wall_time 1700000000.5, step 7, summary {value {tag "train/loss" simple_value 2.5}}.
 *   09 <double LE>             field 1, fixed64: 1700000000.5 = 0x41D954FC40200000
 *   10 07                      field 2, varint: step 7
 *   2a 13                      field 5, 19 bytes: Summary
 *     0a 11                      field 1, 17 bytes: Value
 *       0a 0a "train/loss"         field 1, 10 bytes: tag
 *       15 00 00 20 40             field 2, fixed32: 2.5f = 0x40200000
 */
export const EVENT_HEX = '09' + '00002040fc54d941' + '1007' + '2a13' + '0a11' + '0a0a' + Buffer.from('train/loss').toString('hex') + '15' + '00002040';
/**
 * The record around it: length 32 as uint64 LE, masked CRC32C of those 8 bytes, the event, masked
 * CRC32C of the event. The two CRCs were computed with `crc32cReference` (crc32c-reference.ts) and with Python's
 * google_crc32c (1.7.1), which agree.
 */
export const RECORD_HEX = '2000000000000000' + '29eda950' + EVENT_HEX + 'f68c67bf';
