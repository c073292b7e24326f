import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpyFloat32, encodeNpyFloat32 } from './npy';

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('npy', () => {
  it('round-trips float32 arrays with a 64-byte aligned header', () => {
    const data = Float32Array.from({ length: 7 * 3 * 2 }, (_, i) => i / 3 - 5);
    const buf = encodeNpyFloat32(data, [7, 3, 2]);
    expect((buf.length - data.byteLength) % 64).toBe(0);
    const back = decodeNpyFloat32(buf);
    expect(back.shape).toEqual([7, 3, 2]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  it('refuses data that does not fill the shape', () => {
    expect(() => encodeNpyFloat32(new Float32Array(5), [2, 3])).toThrow(/holds 6 values but data has 5/);
  });

  (hasNumpy ? it : it.skip)('loads in NumPy with the right shape and values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'npy-'));
    const file = join(dir, 'a.npy');
    writeFileSync(file, encodeNpyFloat32(Float32Array.from([1.5, -2, 3, 4, 5, 6]), [3, 1, 2]));
    const out = execFileSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(file)}); print(a.dtype, a.shape, float(a.sum()))`]).toString().trim();
    expect(out).toBe('float32 (3, 1, 2) 17.5');
  });
});
