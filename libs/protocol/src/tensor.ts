import { RingtrainError } from '@ringtrain/core';

/**
 * Tensors on the wire: raw little-endian bytes, each a payload of the frame at a 4-byte aligned
 * offset (frame.ts), so a sender hands the socket the array's own memory and a receiver views it.
 */
export type WireDtype = 'float32' | 'int32';

export const WIRE_DTYPES: readonly WireDtype[] = Object.freeze(['float32', 'int32']);

/** Both wire dtypes are 4 bytes per element. */
export const BYTES_PER_ELEMENT = 4;

/** A tensor as a program holds it: data length = product(shape). */
export interface F32Tensor {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

export interface I32Tensor {
  dtype: 'int32';
  shape: number[];
  data: Int32Array;
}

export type WireTensor = F32Tensor | I32Tensor;
export type TensorOf<D extends WireDtype> = D extends 'float32' ? F32Tensor : I32Tensor;

/** A tensor as a frame carries it. */
export interface TensorFrame {
  name: string;
  dtype: WireDtype;
  shape: number[];
  /** product(shape) * 4 bytes, little-endian. */
  bytes: Uint8Array;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Byte views over the tensors' own memory (no copy on little-endian hosts). The frame carries
 * these views to the socket: the caller must not mutate the tensors until the send resolves.
 */
export function tensorsToFrames(tensors: Readonly<Record<string, WireTensor>>): TensorFrame[] {
  return Object.entries(tensors).map(([name, t]) => tensorToFrame(name, t));
}

export function tensorToFrame(name: string, t: WireTensor): TensorFrame {
  const expectedType = t.dtype === 'float32' ? Float32Array : t.dtype === 'int32' ? Int32Array : null;
  if (expectedType === null || !(t.data instanceof expectedType)) {
    throw new RingtrainError('BAD_TENSOR', `tensor "${name}" has dtype ${String(t.dtype)} but data is ${t.data?.constructor?.name}`, {
      hint: 'use a Float32Array for float32 and an Int32Array for int32',
      details: { name, dtype: t.dtype },
    });
  }
  const count = elementCount(t.shape);
  if (count !== t.data.length) {
    throw new RingtrainError('BAD_TENSOR', `tensor "${name}" has shape [${t.shape.join(', ')}] (${count} values) but ${t.data.length} values`, {
      hint: 'the data length must equal the product of the shape',
      details: { name, shape: [...t.shape], length: t.data.length },
    });
  }
  let bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!HOST_IS_LITTLE_ENDIAN) bytes = swapWords(bytes);
  return { name, dtype: t.dtype, shape: [...t.shape], bytes };
}

/**
 * Typed arrays over the received bytes. Payloads sit at 4-byte aligned offsets of their frame, so
 * the array is a view (it keeps the whole received frame alive) whenever the frame itself starts
 * 4-byte aligned in memory, as `ws` delivers every frame larger than a socket read; otherwise the
 * payload is copied once. Frames are assumed validated (decodeFrame checks byte lengths).
 */
export function tensorsFromFrames(frames: readonly TensorFrame[]): Record<string, WireTensor> {
  return Object.fromEntries(frames.map((f) => [f.name, tensorFromFrame(f)]));
}

export function tensorFromFrame(f: TensorFrame): WireTensor {
  const count = f.bytes.byteLength / BYTES_PER_ELEMENT;
  let source = f.bytes;
  if (!HOST_IS_LITTLE_ENDIAN) source = swapWords(source);
  else if (source.byteOffset % BYTES_PER_ELEMENT !== 0) source = new Uint8Array(source); // one aligned copy
  return f.dtype === 'float32'
    ? { dtype: 'float32', shape: [...f.shape], data: new Float32Array(source.buffer, source.byteOffset, count) }
    : { dtype: 'int32', shape: [...f.shape], data: new Int32Array(source.buffer, source.byteOffset, count) };
}

/** Reverses each 4-byte word into a fresh buffer (big-endian hosts only). */
function swapWords(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  for (let i = 0; i < src.byteLength; i += 4) {
    out[i] = src[i + 3];
    out[i + 1] = src[i + 2];
    out[i + 2] = src[i + 1];
    out[i + 3] = src[i];
  }
  return out;
}

/** A copy with its own memory. */
export function cloneTensor(t: WireTensor): WireTensor {
  return t.dtype === 'float32'
    ? { dtype: 'float32', shape: [...t.shape], data: new Float32Array(t.data) }
    : { dtype: 'int32', shape: [...t.shape], data: new Int32Array(t.data) };
}
