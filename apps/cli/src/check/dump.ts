import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpyFloat32, encodeNpyInt32 } from '@ringtrain/core';

/** Global-order arrays written by `--dump`: inputs and the distributed results. */
export interface DumpArrays {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
  out: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** Writes q/k/v/dout/out/dq/dk/dv .npy files shaped [seq, heads, headDim], doc.npy with documents, and meta.json. */
export function writeDump(
  dir: string,
  arrays: DumpArrays,
  dims: { seqLen: number; heads: number; kvHeads: number; headDim: number },
  meta: Record<string, unknown>,
  /** Each position's document id [seq] (document masking): written as doc.npy (int32). */
  docIds?: Int32Array,
): string[] {
  mkdirSync(dir, { recursive: true });
  const { seqLen: S, heads: H, kvHeads: Hkv, headDim: D } = dims;
  const shapes: Record<keyof DumpArrays, number[]> = {
    q: [S, H, D], k: [S, Hkv, D], v: [S, Hkv, D], dout: [S, H, D],
    out: [S, H, D], dq: [S, H, D], dk: [S, Hkv, D], dv: [S, Hkv, D],
  };
  const written: string[] = [];
  for (const name of Object.keys(shapes) as Array<keyof DumpArrays>) {
    const file = join(dir, `${name}.npy`);
    writeFileSync(file, encodeNpyFloat32(arrays[name], shapes[name]));
    written.push(file);
  }
  if (docIds) {
    const file = join(dir, 'doc.npy');
    writeFileSync(file, encodeNpyInt32(docIds, [S]));
    written.push(file);
  }
  const metaFile = join(dir, 'meta.json');
  writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n');
  written.push(metaFile);
  return written;
}
