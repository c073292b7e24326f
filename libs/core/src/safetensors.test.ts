import { decodeSafetensors, encodeSafetensors } from './safetensors';

describe('safetensors', () => {
  it('round-trips tensors and metadata with 8-byte aligned data', () => {
    const a = { name: 'embed', shape: [3, 2], data: Float32Array.from([1, -2, 3.5, 4, 5, 6]) };
    const b = { name: 'l0.norm1', shape: [2], data: Float32Array.from([0.25, 7]) };
    const buf = encodeSafetensors([a, b], { format: 'pt' });
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
    const back = decodeSafetensors(buf);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect(Array.from(back.tensors.get('embed')!.data)).toEqual(Array.from(a.data));
    expect(back.tensors.get('l0.norm1')!.shape).toEqual([2]);
  });

  it('refuses damaged files with a coded error', () => {
    const buf = encodeSafetensors([{ name: 'x', shape: [4], data: new Float32Array(4) }]);
    expect(() => decodeSafetensors(buf.subarray(0, buf.length - 4), 'm.safetensors')).toThrow(/m.safetensors: tensor x has data offsets/);
    expect(() => decodeSafetensors(Buffer.from([1, 2, 3]))).toThrow(/shorter than/);
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(BigInt(1e12), 0);
    expect(() => decodeSafetensors(huge)).toThrow(/does not fit/);
  });
});
