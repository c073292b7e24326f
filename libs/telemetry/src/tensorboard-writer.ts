import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RingtrainError } from '@ringtrain/core';
import { EventType, FILE_VERSION } from './event-proto';
import { frameRecord } from './tfrecord';

export interface TensorBoardWriterOptions {
  /** Host part of the file name; default `os.hostname()`. */
  hostname?: string;
  /** Wall time of the file's first record and of its name, in Unix seconds; default now. */
  wallTimeSec?: number;
}

/**
 * Appends scalars to `DIR/events.out.tfevents.<unix seconds>.<host>`, the events file TensorBoard
 * reads: one TFRecord per `scalars` call holding one `Event` with one summary value per tag.
 * Each record reaches the file in one synchronous write, so a run killed at any point leaves
 * only whole records behind; `flush` also asks the OS to put them on disk.
 */
export class TensorBoardWriter {
  readonly path: string;
  private fd: number | null;

  constructor(dir: string, opts: TensorBoardWriterOptions = {}) {
    const wallTimeSec = opts.wallTimeSec ?? Date.now() / 1000;
    checkWallTime(wallTimeSec);
    this.path = join(dir, `events.out.tfevents.${Math.floor(wallTimeSec)}.${opts.hostname ?? hostname()}`);
    try {
      mkdirSync(dir, { recursive: true });
      this.fd = openSync(this.path, 'a');
    } catch (e) {
      throw writeError(this.path, 'open', e);
    }
    this.append({ wall_time: wallTimeSec, file_version: FILE_VERSION });
  }

  /** One record at `step` with `values` as `{tag: value}`; an empty `values` writes nothing. */
  scalars(step: number, values: Readonly<Record<string, number>>, wallTimeSec: number = Date.now() / 1000): void {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new RingtrainError('TELEMETRY_BAD_SCALAR', `TensorBoard step ${JSON.stringify(step)} is not a whole number ≥ 0.`, {
        hint: 'Pass the optimizer step count.',
        details: { step },
      });
    }
    checkWallTime(wallTimeSec);
    const value = Object.entries(values).map(([tag, v]) => {
      if (tag === '' || typeof v !== 'number') {
        throw new RingtrainError('TELEMETRY_BAD_SCALAR', `TensorBoard scalar ${JSON.stringify(tag)} = ${JSON.stringify(v)} is not a named number.`, {
          hint: 'Pass {tag: number} with non-empty tags such as "train/loss".',
          details: { step, tag },
        });
      }
      return { tag, simple_value: v };
    });
    if (value.length === 0) return;
    this.append({ wall_time: wallTimeSec, step, summary: { value } });
  }

  /** Asks the OS to put what was written on disk (records already reached the file when written). */
  flush(): void {
    const fd = this.openFd();
    try {
      fsyncSync(fd);
    } catch (e) {
      throw writeError(this.path, 'flush', e);
    }
  }

  /** Flushes and closes the file; later calls do nothing. */
  close(): void {
    if (this.fd === null) return;
    this.flush();
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch (e) {
      throw writeError(this.path, 'close', e);
    }
  }

  private append(event: Record<string, unknown>): void {
    const record = frameRecord(EventType.encode(EventType.fromObject(event)).finish());
    const fd = this.openFd();
    try {
      for (let done = 0; done < record.length; ) done += writeSync(fd, record, done, record.length - done);
    } catch (e) {
      throw writeError(this.path, 'write', e);
    }
  }

  private openFd(): number {
    if (this.fd === null) {
      throw new RingtrainError('TELEMETRY_CLOSED', `TensorBoard writer for ${this.path} is closed.`, {
        hint: 'Create a new TensorBoardWriter to write more.',
        details: { path: this.path },
      });
    }
    return this.fd;
  }
}

function checkWallTime(wallTimeSec: number): void {
  if (!Number.isFinite(wallTimeSec) || wallTimeSec < 0) {
    throw new RingtrainError('TELEMETRY_BAD_SCALAR', `TensorBoard wall time ${wallTimeSec} is not Unix seconds.`, {
      hint: 'Pass Date.now() / 1000, or leave it out.',
      details: { wallTimeSec },
    });
  }
}

function writeError(path: string, what: string, cause: unknown): RingtrainError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RingtrainError('TELEMETRY_WRITE_FAILED', `Cannot ${what} the TensorBoard events file ${path}: ${reason}`, {
    hint: 'Check that the run directory is writable and the disk has space.',
    details: { path },
    cause,
  });
}
