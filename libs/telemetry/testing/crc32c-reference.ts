/**
 * CRC32C (Castagnoli), one bit at a time: the plain reference the library's CRC is tested
 * against. Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
 */
export function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
