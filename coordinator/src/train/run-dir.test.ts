import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, lockRunDir } from './run-dir';

/** The run directory lock: one owner at a time, stale locks of dead processes taken over, live ones refused by name. */
describe('lockRunDir', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'ringtrain-lock-'));

  it('holds the lock with this pid and host, and releases it', () => {
    const run = dir();
    const lock = lockRunDir(run);
    expect(JSON.parse(readFileSync(join(run, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => lockRunDir(run)).toThrow(expect.objectContaining({ code: 'RUN_DIR_LOCKED', message: expect.stringContaining(`pid ${process.pid} on ${hostname()}`) }));
    lock.release();
    expect(existsSync(join(run, LOCK_FILE))).toBe(false);
  });

  it('takes over the lock of a process that no longer runs, and says from whom', () => {
    const run = dir();
    writeFileSync(join(run, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 17, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }));
    const lock = lockRunDir(run);
    expect(lock.tookOverFrom).toMatch(/no longer running/);
    expect(JSON.parse(readFileSync(join(run, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('refuses a lock held on another host, naming it', () => {
    const run = dir();
    writeFileSync(join(run, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: '2026-01-01T00:00:00.000Z' }));
    expect(() => lockRunDir(run)).toThrow(expect.objectContaining({ code: 'RUN_DIR_LOCKED', message: expect.stringContaining('pid 1 on elsewhere') }));
  });
});
