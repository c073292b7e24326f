import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, checkRunDirPath, clearEarlierRun, fsError, hasEarlierRun, lockRunDir } from './run-dir';

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

  it('takes over a lock of the same job from another host (a requeued job), and refuses another job\'s', () => {
    const run = dir();
    writeFileSync(join(run, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: '2026-01-01T00:00:00.000Z', jobId: '4711' }));
    expect(() => lockRunDir(run, { jobId: '4712' })).toThrow(expect.objectContaining({ code: 'RUN_DIR_LOCKED' }));
    const lock = lockRunDir(run, { jobId: '4711' });
    expect(lock.tookOverFrom).toMatch(/pid 1 on elsewhere, an earlier coordinator of job 4711/);
    expect(JSON.parse(readFileSync(join(run, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, jobId: '4711' });
    lock.release();
  });

  it('refuses a lock held on another host, naming it', () => {
    const run = dir();
    writeFileSync(join(run, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: '2026-01-01T00:00:00.000Z' }));
    expect(() => lockRunDir(run)).toThrow(expect.objectContaining({ code: 'RUN_DIR_LOCKED', message: expect.stringContaining('pid 1 on elsewhere') }));
  });
});

/** A run directory that cannot be one is a coded error naming the path and the fix, never a hang or a stack trace. */
describe('run directories that cannot be used', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'ringtrain-rundir-'));
  const unusable = (message: RegExp, hint: RegExp) => expect.objectContaining({ code: 'RUN_DIR_UNUSABLE', message: expect.stringMatching(message), hint: expect.stringMatching(hint) });

  it.each(['/proc/x', '/proc', '/sys/kernel/x'])('refuses %s, on a kernel file system, before creating anything', (path) => {
    expect(() => checkRunDirPath(path)).toThrow(unusable(/is under \/(proc|sys), a file system of the kernel, not a disk/, /--run-dir/));
    expect(() => lockRunDir(path)).toThrow(unusable(/a file system of the kernel/, /--run-dir/));
  });

  it('refuses a path that leads to /proc through a symlink', () => {
    const link = join(dir(), 'proc-link');
    symlinkSync('/proc', link);
    expect(() => checkRunDirPath(join(link, 'run'))).toThrow(unusable(/under \/proc/, /--run-dir/));
  });

  it('refuses a file in the way: the directory itself, or one of its parents', () => {
    const file = join(dir(), 'some-file');
    writeFileSync(file, 'x');
    expect(() => lockRunDir(file)).toThrow(unusable(new RegExp(`run directory ${file} is a file, not a directory`), /move the file out of the way/));
    expect(() => lockRunDir(join(file, 'run'))).toThrow(unusable(new RegExp(`cannot create the run directory ${file}/run: ${file} is a file`), /--run-dir/));
  });

  it('passes a new directory under a real one, and an existing one', () => {
    const parent = dir();
    expect(() => checkRunDirPath(join(parent, 'a', 'b'))).not.toThrow();
    expect(() => checkRunDirPath(parent)).not.toThrow();
    expect(existsSync(join(parent, 'a'))).toBe(false);
  });

  it('maps every errno to a hint that says what to do', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: something, open '/r/x'`), { code });
    expect(fsError(errno('EACCES'), '/r', 'lock the run directory')).toMatchObject({ code: 'RUN_DIR_UNUSABLE', message: "cannot lock the run directory /r: EACCES: something, open '/r/x'", hint: expect.stringMatching(/may not read or write there.*--run-dir.*permissions/) });
    expect(fsError(errno('EROFS'), '/r', 'x').hint).toMatch(/read-only/);
    expect(fsError(errno('ENOSPC'), '/r', 'x').hint).toMatch(/disk is full/);
    expect(fsError(errno('EPERM'), '/r', 'x').hint).toMatch(/not permitted/);
    expect(fsError(errno('EIO'), '/r', 'x')).toMatchObject({ message: expect.stringContaining('EIO'), hint: 'choose another --run-dir', details: { path: '/r', code: 'EIO' } });
  });

  it('turns a failure to read or clear an earlier run into a coded error', () => {
    const file = join(dir(), 'f');
    writeFileSync(file, 'x');
    expect(() => hasEarlierRun(file)).toThrow(unusable(/cannot read the run directory/, /--run-dir/));
    const run = dir();
    mkdirSync(join(run, 'config.json')); // a directory where train's file would be: not removed
    expect(() => clearEarlierRun(run)).toThrow(unusable(/cannot clear the earlier run in/, /--run-dir/));
  });
});
