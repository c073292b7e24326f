import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RingtrainError } from './errors';

/**
 * safetensors: u64le header length, a JSON header {name: {dtype, shape, data_offsets}} (plus
 * optional string `__metadata__`), then the raw little-endian data. Float32 only for now.
 */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Buffer {
  const { head, dataBytes } = safetensorsHeader(tensors, metadata);
  const out = Buffer.alloc(head.length + dataBytes);
  head.copy(out, 0);
  let at = head.length;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file without assembling it in memory (the tensors are written one after
 * another), atomically: into `path.tmp`, fsynced, then renamed over `path`, and the directory
 * fsynced, so a crash leaves the old file or the new one, never half of one.
 */
export function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): number {
  const { head, dataBytes } = safetensorsHeader(tensors, metadata);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, head);
    for (const t of tensors) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return head.length + dataBytes;
}

/**
 * The same file, written asynchronously (the event loop keeps running between writes), with
 * the sha256 of every byte written. Not atomic by itself: checkpoints write into a temporary
 * directory and rename it (docs/checkpoints.md); pass `atomic` to rename `path.tmp` over `path`.
 */
export async function writeSafetensorsAsync(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> = {}, opts: { atomic?: boolean } = {}): Promise<{ bytes: number; sha256: string }> {
  const { head, dataBytes } = safetensorsHeader(tensors, metadata);
  const target = opts.atomic ? `${path}.tmp` : path;
  const hash = createHash('sha256');
  const file = await open(target, 'w');
  try {
    const put = async (bytes: Uint8Array) => {
      hash.update(bytes);
      for (let at = 0; at < bytes.byteLength; ) at += (await file.write(bytes, at, Math.min(bytes.byteLength - at, 1 << 26))).bytesWritten;
    };
    await put(head);
    for (const t of tensors) await put(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    await file.sync();
  } finally {
    await file.close();
  }
  if (opts.atomic) {
    await rename(target, path);
    await fsyncDir(dirname(path));
  }
  return { bytes: head.length + dataBytes, sha256: hash.digest('hex') };
}

/** Makes a directory's entries (a rename, a new file) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, Math.min(bytes.byteLength - at, 1 << 30));
}

/** The 8-byte length and the JSON header (padded so the data starts 8-byte aligned). */
function safetensorsHeader(tensors: readonly NamedTensor[], metadata: Record<string, string>): { head: Buffer; dataBytes: number } {
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new RingtrainError('BAD_TENSOR', `tensor ${t.name}: shape [${t.shape}] holds ${count} values, data has ${t.data.length}`);
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name)) throw new RingtrainError('BAD_TENSOR', `tensor name ${t.name} is used twice or reserved`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // keep the data 8-byte aligned
  const text = Buffer.from(json, 'utf8');
  const head = Buffer.alloc(8 + text.length);
  head.writeBigUInt64LE(BigInt(text.length), 0);
  text.copy(head, 8);
  return { head, dataBytes: offset };
}

export function decodeSafetensors(buf: Buffer, source = 'safetensors file'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const bad = (problem: string) => new RingtrainError('BAD_SAFETENSORS', `${source}: ${problem}`, { hint: 'the file is damaged or not a safetensors file; use another checkpoint' });
  if (buf.length < 8) throw bad('shorter than its 8-byte header length');
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > buf.length) throw bad(`header length ${headerLen} does not fit the file of ${buf.length} bytes`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen));
  } catch {
    throw bad('header is not JSON');
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw bad(`tensor ${name} has dtype ${e.dtype}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every((n) => Number.isInteger(n) && n >= 0)) throw bad(`tensor ${name} has a bad shape`);
    const [begin, end] = e.data_offsets ?? [];
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || end - begin !== count * 4 || dataStart + end > buf.length || begin < 0) {
      throw bad(`tensor ${name} has data offsets [${begin}, ${end}] that do not match its shape or the file`);
    }
    const bytes = buf.subarray(dataStart + begin, dataStart + end);
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes);
    tensors.set(name, { name, shape: e.shape, data });
  }
  return { tensors, metadata };
}
