import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RingtrainError, fsyncDir, writeSafetensorsAsync, type NamedTensor } from '@ringtrain/core';
import type { Bulk } from '@ringtrain/protocol';
import { CHECKPOINT_FORMAT, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, checkpointDirName, parseManifest, stepOfDirName, type CheckpointManifest, type FileEntry } from './manifest';

/**
 * Checkpoints of a run on disk (docs/checkpoints.md): `<runDir>/checkpoints/step-NNNNNN/` holds
 * manifest.json, model.safetensors and optimizer.safetensors; `checkpoints/latest` names the
 * newest committed one. A checkpoint is written into `step-N.tmp/`, every file fsynced, the
 * directory renamed, and `latest` replaced atomically; a directory without a valid manifest is
 * not a checkpoint.
 */
export const CHECKPOINTS_DIR = 'checkpoints';
export const LATEST_FILE = 'latest';

export function checkpointsDir(runDir: string): string {
  return join(runDir, CHECKPOINTS_DIR);
}

/** What a save writes: the manifest without the files it describes, and the two states. */
export interface CheckpointContent {
  manifest: Omit<CheckpointManifest, 'format' | 'files' | 'tensors' | 'createdAt'>;
  params: Bulk;
  optimizer: Bulk;
}

/** Writes one checkpoint and commits it; returns its directory and byte size. Never touches an existing committed checkpoint of another step. */
export async function writeCheckpoint(runDir: string, content: CheckpointContent): Promise<{ dir: string; bytes: number }> {
  const tmp = join(checkpointsDir(runDir), `${checkpointDirName(content.manifest.step)}.tmp`);
  try {
    return await writeAndCommit(runDir, content);
  } catch (err) {
    // A failed save (a full disk, a vanished directory) leaves no half-written directory behind,
    // and the checkpoints committed before it are untouched.
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof RingtrainError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new RingtrainError('CHECKPOINT_WRITE_FAILED', `could not write the checkpoint of step ${content.manifest.step} into ${tmp}: ${e.message}`, {
      hint: e.code === 'ENOSPC' ? 'the disk is full: free space (the earlier checkpoints are intact), or lower --keep-last' : 'check that the run directory is writable; the earlier checkpoints are intact',
      details: { code: e.code, path: tmp },
    });
  }
}

async function writeAndCommit(runDir: string, content: CheckpointContent): Promise<{ dir: string; bytes: number }> {
  const root = checkpointsDir(runDir);
  const name = checkpointDirName(content.manifest.step);
  const tmp = join(root, `${name}.tmp`);
  const dir = join(root, name);
  await mkdir(root, { recursive: true });
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const files: Record<string, FileEntry> = {};
  const tensors: CheckpointManifest['tensors'] = [];
  const about = { format: CHECKPOINT_FORMAT, model: JSON.stringify(content.manifest.model), step: String(content.manifest.step) };
  for (const [file, state] of [[MODEL_FILE, content.params], [OPTIMIZER_FILE, content.optimizer]] as const) {
    const list = namedFloat32(state, file);
    files[file] = await writeSafetensorsAsync(join(tmp, file), list, about);
    for (const t of list) tensors.push({ name: t.name, shape: t.shape, dtype: 'F32', file });
  }
  const manifest: CheckpointManifest = { format: CHECKPOINT_FORMAT, ...content.manifest, createdAt: new Date().toISOString(), files, tensors };
  const text = JSON.stringify(manifest, null, 2) + '\n';
  await writeDurable(join(tmp, MANIFEST_FILE), text);
  await fsyncDir(tmp);
  // Re-saving a step replaces that step's checkpoint as a whole; the old one is moved aside
  // first and removed only after the new one is committed, so a crash never leaves neither.
  const replaced = `${dir}.replaced`;
  if (existsSync(dir)) {
    await rm(replaced, { recursive: true, force: true });
    await rename(dir, replaced);
  }
  await rename(tmp, dir);
  await fsyncDir(root);
  await writeDurable(join(root, `${LATEST_FILE}.tmp`), name + '\n');
  await rename(join(root, `${LATEST_FILE}.tmp`), join(root, LATEST_FILE));
  await fsyncDir(root);
  await rm(replaced, { recursive: true, force: true });
  return { dir, bytes: Object.values(files).reduce((a, f) => a + f.bytes, 0) + Buffer.byteLength(text) };
}

async function writeDurable(path: string, text: string): Promise<void> {
  const f = await open(path, 'w');
  try {
    await f.writeFile(text);
    await f.sync();
  } finally {
    await f.close();
  }
}

function namedFloat32(state: Bulk, file: string): NamedTensor[] {
  return [...state].map(([name, t]) => {
    if (t.dtype !== 'float32') throw new RingtrainError('BAD_RESULT', `${file}: tensor ${name} is ${t.dtype}; checkpoints hold float32 state`);
    return { name, shape: t.shape, data: t.data };
  });
}

/** One entry of `checkpoint ls`. */
export interface CheckpointEntry {
  name: string;
  dir: string;
  step: number | null;
  /** A committed directory with a manifest that parses (hashes not checked here). */
  committed: boolean;
  bytes: number;
  createdAt: string | null;
  problem: string | null;
}

/** Every checkpoint directory of a run, committed or not, oldest first. */
export function listCheckpoints(runDir: string): CheckpointEntry[] {
  const root = checkpointsDir(runDir);
  if (!existsSync(root)) return [];
  const out: CheckpointEntry[] = [];
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    if (!statSync(dir).isDirectory()) continue;
    const step = stepOfDirName(name) ?? stepOfDirName(name.replace(/\.tmp$/, ''));
    if (step === null) continue;
    const bytes = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    let createdAt: string | null = null;
    let problem: string | null = name.endsWith('.tmp') ? 'not committed (a save that did not finish)' : null;
    if (!problem) {
      try {
        createdAt = readManifest(dir).createdAt;
      } catch (e) {
        problem = (e as Error).message;
      }
    }
    out.push({ name, dir, step, committed: problem === null, bytes, createdAt, problem });
  }
  return out.sort((a, b) => (a.step ?? -1) - (b.step ?? -1) || a.name.localeCompare(b.name));
}

export function readManifest(dir: string): CheckpointManifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new RingtrainError('NOT_A_CHECKPOINT', `${dir} is not a checkpoint: it has no ${MANIFEST_FILE}`, { hint: 'pass a run directory or one of its checkpoints/step-N directories' });
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RingtrainError('BAD_CHECKPOINT', `${file} is not valid JSON: ${(e as Error).message}`, { hint: 'the checkpoint is damaged; use another one' });
  }
  return parseManifest(value, file);
}

/** Checks every file the manifest lists: present, of its size, with its sha256. Throws BAD_CHECKPOINT naming the file. */
export function verifyCheckpoint(dir: string): CheckpointManifest {
  const manifest = readManifest(dir);
  for (const [name, want] of Object.entries(manifest.files)) {
    const path = join(dir, name);
    if (!existsSync(path)) throw new RingtrainError('BAD_CHECKPOINT', `${path} is missing`, { hint: 'the checkpoint is incomplete; use another one' });
    const size = statSync(path).size;
    if (size !== want.bytes) throw new RingtrainError('BAD_CHECKPOINT', `${path} has ${size} bytes, the manifest says ${want.bytes} (truncated or replaced)`, { hint: 'the checkpoint is damaged; use another one' });
    if (sha256Of(path) !== want.sha256) throw new RingtrainError('BAD_CHECKPOINT', `${path} does not match its sha256 in the manifest (the file changed after it was written)`, { hint: 'the checkpoint is damaged; use another one' });
  }
  return manifest;
}

const READ_PIECE_BYTES = 16 * 1024 * 1024;

/** sha256 of a file, read in pieces (files of any size: Node reads at most 2 GiB at once). */
function sha256Of(path: string): string {
  const hash = createHash('sha256');
  const piece = Buffer.allocUnsafe(READ_PIECE_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, piece, 0, piece.length, null)) > 0; ) hash.update(piece.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The tensors of one safetensors file of a verified checkpoint, each read straight into its own
 * array (the file is never held whole, so its size is not bounded by what one read can return).
 */
function readTensors(path: string, entries: readonly CheckpointManifest['tensors'][number][]): Bulk {
  const bad = (problem: string) => new RingtrainError('BAD_CHECKPOINT', `${path}: ${problem}`, { hint: 'the checkpoint is damaged; use another one' });
  const fd = openSync(path, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength > 100 * 1024 * 1024) throw bad(`header length ${headerLength} is implausible`);
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    let header: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw bad('its header is not JSON');
    }
    const out: Bulk = new Map();
    for (const t of entries) {
      const e = header[t.name];
      const offsets = e?.data_offsets;
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (!e || e.dtype !== 'F32' || JSON.stringify(e.shape) !== JSON.stringify(t.shape) || !Array.isArray(offsets) || offsets[1] - offsets[0] !== count * 4) {
        throw bad(`tensor ${t.name} is missing or not F32 [${t.shape}]`);
      }
      const data = new Float32Array(count);
      const view = new Uint8Array(data.buffer);
      for (let at = 0; at < view.length; ) {
        const n = readSync(fd, view, at, Math.min(view.length - at, READ_PIECE_BYTES), 8 + headerLength + offsets[0] + at);
        if (n === 0) throw bad(`tensor ${t.name} ends early`);
        at += n;
      }
      out.set(t.name, { dtype: 'float32', shape: [...t.shape], data });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

export interface LoadedCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  params: Bulk;
  optimizer: Bulk;
}

/** Verifies a checkpoint, then reads its tensors (with the shapes of the manifest). */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const manifest = verifyCheckpoint(dir);
  const read = (file: string) => readTensors(join(dir, file), manifest.tensors.filter((e) => e.file === file));
  return { dir, manifest, params: read(MODEL_FILE), optimizer: read(OPTIMIZER_FILE) };
}

/**
 * The checkpoint to resume from: a checkpoint directory itself, or a run directory's `latest`.
 * A latest that fails verification is skipped for the newest older one that passes, and
 * `onFallback` says why. Null when the run has no checkpoint; NO_CHECKPOINT when it has some and
 * none verifies (starting over would silently throw the run away).
 */
export function findResumable(path: string, onFallback: (message: string) => void): string | null {
  if (existsSync(join(path, MANIFEST_FILE))) {
    verifyCheckpoint(path);
    return path;
  }
  if (!existsSync(path)) throw new RingtrainError('RUN_NOT_FOUND', `${path} does not exist`, { hint: 'pass the run directory of an earlier `ringtrain train`, or one of its checkpoints/step-N directories' });
  const named = readLatest(path);
  const candidates = listCheckpoints(path).filter((e) => !e.name.endsWith('.tmp')).reverse();
  if (named) candidates.sort((a, b) => Number(b.name === named) - Number(a.name === named));
  for (const c of candidates) {
    try {
      verifyCheckpoint(c.dir);
      return c.dir;
    } catch (e) {
      onFallback(`checkpoint ${c.dir} is unusable (${(e as Error).message}); trying an older one`);
    }
  }
  if (candidates.length > 0) {
    throw new RingtrainError('NO_CHECKPOINT', `none of the ${candidates.length} checkpoint(s) of ${path} is usable`, {
      hint: '`ringtrain checkpoint verify` names what is wrong with each; restore one, or start over with --overwrite',
    });
  }
  return null;
}

/** The checkpoint name `checkpoints/latest` holds, or null when the run has none. */
export function readLatest(runDir: string): string | null {
  const file = join(checkpointsDir(runDir), LATEST_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || null : null;
}

/**
 * Resuming from a checkpoint older than the run's newest abandons the newer ones: they are moved
 * aside (`step-N.superseded`, kept for the user, never read again) and `latest` names the one
 * resumed from, so a restart after a failure cannot pick up the abandoned continuation.
 */
export async function supersedeNewer(checkpointDir: string): Promise<string[]> {
  const runDir = runDirOf(checkpointDir);
  const chosen = stepOfDirName(basename(checkpointDir));
  if (chosen === null || dirname(checkpointDir) !== checkpointsDir(runDir)) return [];
  const moved: string[] = [];
  for (const e of listCheckpoints(runDir)) {
    if (e.name.endsWith('.tmp') || e.step === null || e.step <= chosen) continue;
    const aside = `${e.dir}.superseded`;
    await rm(aside, { recursive: true, force: true });
    await rename(e.dir, aside);
    moved.push(aside);
  }
  const root = checkpointsDir(runDir);
  await writeDurable(join(root, `${LATEST_FILE}.tmp`), basename(checkpointDir) + '\n');
  await rename(join(root, `${LATEST_FILE}.tmp`), join(root, LATEST_FILE));
  await fsyncDir(root);
  return moved;
}

/** Removes unfinished saves (`step-N.tmp`) left by a process that died while writing. */
export async function cleanUnfinished(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const e of listCheckpoints(runDir)) {
    if (!e.name.endsWith('.tmp')) continue;
    await rm(e.dir, { recursive: true, force: true });
    removed.push(e.dir);
  }
  return removed;
}

/**
 * Keeps the newest `keep` committed checkpoints written by ringtrain; deletes older ones (never
 * anything else). The one `latest` names always stays: after a resume from an older checkpoint
 * it is the newest save even though higher steps of the abandoned continuation are still there.
 */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<string[]> {
  if (keep <= 0) return [];
  const committed = listCheckpoints(runDir).filter((e) => e.committed);
  const latest = readLatest(runDir);
  const old = committed.slice(0, Math.max(0, committed.length - keep)).filter((e) => e.name !== latest);
  for (const e of old) await rm(e.dir, { recursive: true, force: true });
  return old.map((e) => e.dir);
}

/** The run directory a checkpoint directory belongs to (…/run/checkpoints/step-N → …/run). */
export function runDirOf(checkpointDir: string): string {
  const parent = dirname(checkpointDir);
  return basename(parent) === CHECKPOINTS_DIR ? dirname(parent) : parent;
}
