/**
 * NumPy .npy (format 1.0) encoding for float32 arrays, so `--dump` output loads with np.load.
 * Header: magic, version, u16le header length, a Python dict literal padded so data is 64-aligned.
 */
export function encodeNpyFloat32(data: Float32Array, shape: readonly number[]): Buffer {
  return encodeNpy(data, shape, '<f4');
}

/** The same for int32 arrays (document ids in `--dump`). */
export function encodeNpyInt32(data: Int32Array, shape: readonly number[]): Buffer {
  return encodeNpy(data, shape, '<i4');
}

function encodeNpy(data: Float32Array | Int32Array, shape: readonly number[], descr: '<f4' | '<i4'): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`npy: shape [${shape.join(', ')}] holds ${count} values but data has ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const preamble = 10; // magic(6) + version(2) + header length(2)
  const total = Math.ceil((preamble + header.length + 1) / 64) * 64;
  header = header.padEnd(total - preamble - 1, ' ') + '\n';
  const out = Buffer.alloc(total + data.byteLength);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, preamble, 'latin1');
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (isLittleEndian()) bytes.copy(out, total);
  else if (data instanceof Int32Array) for (let i = 0; i < data.length; i++) out.writeInt32LE(data[i], total + 4 * i);
  else for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], total + 4 * i);
  return out;
}

/** Reads back what encodeNpyFloat32 writes (used by tests and tools). */
export function decodeNpyFloat32(buf: Buffer): { data: Float32Array; shape: number[] } {
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error('npy: bad magic');
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  if (!header.includes("'<f4'")) throw new Error(`npy: only little-endian float32 is supported, header: ${header}`);
  const m = /'shape': \(([^)]*)\)/.exec(header);
  if (!m) throw new Error(`npy: no shape in header: ${header}`);
  const shape = m[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const start = 10 + headerLen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return { data, shape };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
