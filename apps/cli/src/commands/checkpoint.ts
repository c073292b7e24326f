import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RingtrainError, decodeSafetensors, writeSafetensors } from '@ringtrain/core';
import {
  MANIFEST_FILE,
  MODEL_FILE,
  MODEL_FILE_FORMAT,
  findResumable,
  listCheckpoints,
  readLatest,
  readManifest,
  runDirOf,
  stepOfDirName,
  verifyCheckpoint,
  type CheckpointEntry,
  type CheckpointManifest,
} from '@ringtrain/coordinator';
import { formatBytes, formatTable } from '../bench/stats';
import { EXIT } from '../exit-codes';

const PATH_HINT = 'pass a run directory of `ringtrain train` or one of its checkpoints/step-N directories';

/** What a PATH argument names: a run, or one checkpoint directory of it (`checkpoint` set). */
interface Target {
  run: string;
  checkpoint: string | null;
}

function targetOf(path: string): Target {
  const abs = resolve(path); // runDirOf needs real parent directories ('.', trailing slashes)
  if (!existsSync(abs)) throw new RingtrainError('RUN_NOT_FOUND', `${path} does not exist`, { hint: PATH_HINT });
  if (!statSync(abs).isDirectory()) throw new RingtrainError('NOT_A_CHECKPOINT', `${path} is a file, not a run or checkpoint directory`, { hint: PATH_HINT });
  // A step-N directory without a manifest is still a checkpoint directory (a damaged one), not a run.
  const isCheckpoint = existsSync(join(abs, MANIFEST_FILE)) || stepOfDirName(basename(abs).replace(/\.tmp$/, '')) !== null;
  return isCheckpoint ? { run: runDirOf(abs), checkpoint: abs } : { run: abs, checkpoint: null };
}

function noCheckpoint(run: string, which: string): RingtrainError {
  return new RingtrainError('NO_CHECKPOINT', `${run} has no ${which}`, { hint: `${PATH_HINT}; \`ringtrain checkpoint ls ${run}\` shows what is there` });
}

/**
 * The checkpoint a command reads, verified: the one given, or the run's latest — falling back
 * past damaged ones the way a resume would, and saying so on stderr.
 */
function verified(t: Target): { dir: string; manifest: CheckpointManifest } {
  if (t.checkpoint) return { dir: t.checkpoint, manifest: verifyCheckpoint(t.checkpoint) };
  const dir = findResumable(t.run, (message) => process.stderr.write(`ringtrain: ${message}\n`));
  if (!dir) throw noCheckpoint(t.run, 'checkpoint that verifies'); // none, or all damaged (stderr said why)
  return { dir, manifest: readManifest(dir) };
}

/** The `ls` entry of one checkpoint directory, also when it lies outside a run's checkpoints/. */
function entryOf(dir: string): CheckpointEntry {
  const listed = listCheckpoints(runDirOf(dir)).find((e) => e.dir === dir);
  if (listed) return listed;
  const bytes = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
  try {
    const m = readManifest(dir);
    return { name: basename(dir), dir, step: m.step, committed: true, bytes, createdAt: m.createdAt, problem: null };
  } catch (e) {
    return { name: basename(dir), dir, step: null, committed: false, bytes, createdAt: null, problem: (e as Error).message };
  }
}

function ls(path: string, json: boolean): void {
  const t = targetOf(path);
  const entries = t.checkpoint ? [entryOf(t.checkpoint)] : listCheckpoints(t.run);
  const latest = readLatest(t.run);
  if (json) {
    process.stdout.write(JSON.stringify({ run: t.run, latest, checkpoints: entries.map((e) => ({ ...e, latest: e.name === latest })) }) + '\n');
    return;
  }
  if (entries.length === 0) {
    process.stdout.write(`no checkpoints in ${t.run}\n`);
    return;
  }
  const rows = entries.map((e) => [
    e.name,
    e.step === null ? '-' : String(e.step),
    e.createdAt ?? '-',
    formatBytes(e.bytes),
    (e.committed ? 'yes' : `no: ${e.problem}`) + (e.name === latest ? ' (latest)' : ''),
  ]);
  process.stdout.write(formatTable([['NAME', 'STEP', 'CREATED', 'SIZE', 'COMMITTED'], ...rows], [false, true, false, true, false]) + '\n');
  // A latest that names nothing usable is what a resume would fall back from; say it here first.
  if (!t.checkpoint && latest && !entries.some((e) => e.name === latest && e.committed)) {
    process.stdout.write(`latest names ${latest}, which is not a committed checkpoint here\n`);
  }
}

function verify(path: string, json: boolean): void {
  const t = targetOf(path);
  // Unfinished saves (.tmp) are not checkpoints; a step-N directory is, and must pass.
  const dirs = t.checkpoint ? [t.checkpoint] : listCheckpoints(t.run).filter((e) => !e.name.endsWith('.tmp')).map((e) => e.dir);
  if (dirs.length === 0) throw noCheckpoint(t.run, 'checkpoint');
  const results = dirs.map((dir) => {
    try {
      verifyCheckpoint(dir);
      return { name: basename(dir), dir, ok: true, problem: null };
    } catch (e) {
      // Any failure (a bad hash, an unreadable file) makes this checkpoint bad, not the command.
      return { name: basename(dir), dir, ok: false, problem: (e as Error).message };
    }
  });
  const bad = results.filter((r) => !r.ok).length;
  if (json) {
    process.stdout.write(JSON.stringify({ ok: bad === 0, checkpoints: results }) + '\n');
  } else {
    for (const r of results) process.stdout.write(`${r.name}  ${r.ok ? 'ok' : `BAD: ${r.problem}`}\n`);
    process.stdout.write(bad === 0 ? `${results.length} checkpoint(s) ok\n` : `${bad} of ${results.length} checkpoint(s) bad\n`);
  }
  if (bad > 0) process.exitCode = EXIT.failed;
}

function inspect(path: string): void {
  const t = targetOf(path);
  // A checkpoint named explicitly is shown as stored even if its files are damaged (that is what
  // one inspects it for); a run shows the checkpoint a resume would use.
  const manifest = t.checkpoint ? readManifest(t.checkpoint) : verified(t).manifest;
  process.stdout.write(JSON.stringify(manifest, null, 2) + '\n');
}

function exportModel(path: string, o: { out: string; force: boolean }): void {
  const out = resolve(o.out);
  if (existsSync(out) && statSync(out).isDirectory()) throw new RingtrainError('BAD_OPTION', `--out ${o.out} is a directory`, { hint: 'pass --out with a file name, e.g. model.safetensors' });
  if (existsSync(out) && !o.force) throw new RingtrainError('OUTPUT_EXISTS', `--out ${o.out} already exists`, { hint: 'pass --force to replace it, or choose another --out' });
  if (!existsSync(dirname(out))) throw new RingtrainError('BAD_OPTION', `--out ${o.out}: directory ${dirname(out)} does not exist`, { hint: 'create the directory first, or choose another --out' });
  const t = targetOf(path);
  const { dir, manifest } = verified(t);
  // Writing into the checkpoint would replace a file its manifest hashes.
  if (dirname(out) === dir) throw new RingtrainError('BAD_OPTION', `--out ${o.out} is inside the checkpoint ${dir}`, { hint: 'write the export outside the checkpoint directory' });
  const file = join(dir, MODEL_FILE);
  const tensors = [...decodeSafetensors(readFileSync(file), file).tensors.values()];
  const bytes = writeSafetensors(out, tensors, { format: MODEL_FILE_FORMAT, model: JSON.stringify(manifest.model), steps: String(manifest.step) });
  process.stdout.write(`wrote ${out}: ${tensors.length} tensors, ${formatBytes(bytes)}, the model after step ${manifest.step} (${dir})\n`);
}

/** `ringtrain checkpoint ls|verify|inspect|export`: look after a run's checkpoints (docs/checkpoints.md). */
export function registerCheckpointCommand(program: Command): void {
  const checkpoint = program
    .command('checkpoint')
    .description('List, verify, inspect and export the checkpoints of a run (PATH: a run directory or one of its checkpoints/step-N directories).');

  checkpoint
    .command('ls <path>')
    .description('One line per checkpoint directory: name, step, time, size, committed or not (and why not); which one `latest` names.')
    .option('--json', 'print one JSON object', false)
    .action((path: string, o: { json: boolean }) => ls(path, o.json));

  checkpoint
    .command('verify <path>')
    .description('Check every step-N directory of the run (or the one given; unfinished .tmp saves are skipped): the manifest parses, and every file has its size and sha256. Exits 1 if any is bad.')
    .option('--json', 'print one JSON object', false)
    .action((path: string, o: { json: boolean }) => verify(path, o.json));

  checkpoint
    .command('inspect <path>')
    .description('Print the manifest as JSON: of the checkpoint given, or of the one a resume of the run would use.')
    .action((path: string) => inspect(path));

  checkpoint
    .command('export <path>')
    .description('Write the checkpoint\'s parameters (verified first) as one safetensors model file, the model config in its metadata, as `ringtrain train` saves model.safetensors.')
    .requiredOption('--out <file>', 'the safetensors file to write')
    .option('--force', 'replace --out if it exists', false)
    .action((path: string, o: { out: string; force: boolean }) => exportModel(path, o));
}
