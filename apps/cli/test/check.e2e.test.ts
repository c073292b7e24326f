import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpyFloat32 } from '@ringtrain/core';
import { runCli } from './testing/cli';

/**
 * `ringtrain check` across real worker processes and real sockets, for P = 1..4, every strategy
 * (Ulysses where the heads divide), causal and not, on a sequence length no P divides.
 */
interface CheckJson {
  ok: boolean;
  cases: Array<{ strategy: string; workers: number; seqLen: number; causal: boolean; errors: Record<string, { maxAbs: number; maxRel: number }> }>;
}

const SEQ = 61; // prime: no world size divides it, nor 2P
const HEADS = 4;

describe('ringtrain check with real worker processes', () => {
  const cases = [1, 2, 3, 4].flatMap((P) => [true, false].map((causal) => [P, causal] as const));

  it.each(cases)('P=%i causal=%s: every strategy matches the reference', async (P, causal) => {
    const strategies = ['ring', 'striped', 'zigzag', 'rsa', ...(HEADS % P === 0 ? ['ulysses'] : [])];
    const run = await runCli([
      'check', '--json', '--workers', String(P), '--seq-len', String(SEQ), '--heads', String(HEADS), '--kv-heads', '2',
      '--head-dim', '8', causal ? '--causal' : '--no-causal', '--strategies', strategies.join(','), '--seed', String(P),
    ]);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CheckJson;
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => c.strategy).sort()).toEqual([...strategies].sort());
    for (const c of report.cases) {
      expect(c).toMatchObject({ workers: P, seqLen: SEQ, causal });
      for (const t of ['out', 'dq', 'dk', 'dv']) {
        expect(c.errors[t].maxRel).toBeLessThan(1e-5);
        expect(Number.isFinite(c.errors[t].maxAbs)).toBe(true);
      }
    }
  });

  it('--dump writes NumPy arrays of the first strategy in global order', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ringtrain-dump-')), 'out');
    const run = await runCli(['check', '--workers', '2', '--seq-len', '9', '--heads', '2', '--kv-heads', '1', '--head-dim', '4', '--strategies', 'striped,ring', '--dump', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ok: every strategy matches/);
    const shapes: Record<string, number[]> = { q: [9, 2, 4], k: [9, 1, 4], v: [9, 1, 4], dout: [9, 2, 4], out: [9, 2, 4], dq: [9, 2, 4], dk: [9, 1, 4], dv: [9, 1, 4] };
    for (const [name, shape] of Object.entries(shapes)) {
      const arr = decodeNpyFloat32(readFileSync(join(dir, `${name}.npy`)));
      expect(arr.shape).toEqual(shape);
      expect(arr.data.every(Number.isFinite)).toBe(true);
    }
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({ causal: true, scale: 0.5, strategy: 'striped' });
  });
});
