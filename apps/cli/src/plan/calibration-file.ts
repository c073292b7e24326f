import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The link this machine's workers last measured: `bench attention` writes its ws+msgpack rate
 * here after each transport measurement, and `plan` (and `train --strategy auto`) read it, so
 * the planner is calibrated on a real measurement without starting workers of its own. One
 * small JSON file: $RINGTRAIN_CALIBRATION_FILE, else $XDG_CACHE_HOME/ringtrain/calibration.json
 * (~/.cache by default).
 */
export interface LinkCalibration {
  /** ws+msgpack bytes/s between two worker processes on this machine. */
  readonly bytesPerSec: number;
  /** ISO time of the measurement. */
  readonly measuredAt: string;
  /** What measured it (the command). */
  readonly by: string;
}

export function calibrationFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RINGTRAIN_CALIBRATION_FILE) return env.RINGTRAIN_CALIBRATION_FILE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ringtrain', 'calibration.json');
}

/** The last measured link, or null (never measured, or a file that is not one of ours). */
export function readLinkCalibration(file = calibrationFile()): LinkCalibration | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { link?: Partial<LinkCalibration> };
    const l = v.link;
    if (!l || typeof l.bytesPerSec !== 'number' || !(l.bytesPerSec > 0) || typeof l.measuredAt !== 'string') return null;
    return { bytesPerSec: l.bytesPerSec, measuredAt: l.measuredAt, by: String(l.by ?? 'bench attention') };
  } catch {
    return null;
  }
}

/** Records a measured link (written whole, then renamed: a reader never sees half a file). Returns an error message, or null. */
export function writeLinkCalibration(link: LinkCalibration, file = calibrationFile()): string | null {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify({ link }, null, 2) + '\n');
    renameSync(`${file}.tmp`, file);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
