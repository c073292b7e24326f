#!/usr/bin/env node
// An authenticated peer floods a real worker's data plane with frames nobody consumes; the
// worker's memory is read from /proc/<pid>/status every 100 ms (apps/cli/test/testing/flood.ts).
// Runs the same flood against two workers in one go:
//   budget     dist/ringtrain.cjs as built from this tree (maxQueuedBytes = 2 × maxFrameBytes);
//   unbounded  the same tree with the default budget raised to 2²¹ frames, i.e. never reached
//              (`ringtrain worker` has no flag for maxQueuedBytes), built to dist/flood-unbounded.cjs.
// Usage: node benchmarks/flood.mjs [--frames 4] [--frame-mib 256] [--stall-ms 10000] [--only budget|unbounded] [--json]
// The flood ends when every frame is written, or when the attacker's socket has moved no byte
// for --stall-ms (a worker decoding a 256 MiB frame on a loaded machine can pause for seconds).
// About a minute on 2 cores with the defaults; the unbounded run holds about 1.5 GiB per 4 frames.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '4' },
    'frame-mib': { type: 'string', default: '256' },
    'stall-ms': { type: 'string', default: '10000' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const frames = Number(values.frames);
const stallMs = Number(values['stall-ms']);
const maxFrameBytes = Number(values['frame-mib']) * 1024 * 1024;
if (!Number.isSafeInteger(frames) || frames < 1) throw new Error(`--frames ${values.frames}: an integer >= 1`);
if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > 2 ** 31 - 1) throw new Error(`--frame-mib ${values['frame-mib']}: 1 to 2047`);

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', packages: 'external', tsconfig: 'tsconfig.base.json', logLevel: 'warning' };
await import('../scripts/build.mjs'); // = npm run bundle: dist/ringtrain.cjs
await build({ ...common, entryPoints: ['apps/cli/test/testing/flood.ts'], outfile: 'dist/flood-harness.cjs' });
const BUDGET_DEFAULT = 'const QUEUED_FRAMES_BY_DEFAULT = 2;';
await build({
  ...common,
  entryPoints: ['apps/cli/src/main.ts'],
  outfile: 'dist/flood-unbounded.cjs',
  plugins: [{
    name: 'no-queued-bytes-budget',
    setup(b) {
      b.onLoad({ filter: /libs[/\\]transport[/\\]src[/\\]ws[/\\]options\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes(BUDGET_DEFAULT)) throw new Error(`${args.path} no longer holds "${BUDGET_DEFAULT}": update benchmarks/flood.mjs`);
        return { contents: source.replace(BUDGET_DEFAULT, 'const QUEUED_FRAMES_BY_DEFAULT = 2 ** 21;'), loader: 'ts' };
      });
    },
  }],
});

const { runFlood } = createRequire(import.meta.url)('../dist/flood-harness.cjs');
const variants = [
  { name: 'budget', cli: 'dist/ringtrain.cjs' },
  { name: 'unbounded', cli: 'dist/flood-unbounded.cjs' },
].filter((v) => !values.only || v.name === values.only);

const load = loadavg()[0].toFixed(2);
const reports = [];
for (const v of variants) reports.push({ variant: v.name, ...(await runFlood({ cli: v.cli, maxFrameBytes, frames, stallMs })) });

if (values.json) {
  console.log(JSON.stringify({ load1: Number(load), frames, maxFrameBytes, reports }, null, 2));
} else {
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  console.log(`flood: ${frames} frames of ${mib(maxFrameBytes)} MiB (--max-frame-bytes ${maxFrameBytes}) into worker 0 of 2; load average ${load} at start`);
  const rows = [
    ['', ...reports.map((r) => r.variant)],
    ['budget (maxQueuedBytes), MiB', ...reports.map((r) => (r.variant === 'unbounded' ? 'none' : mib(r.maxQueuedBytes)))],
    ['RSS before, MiB', ...reports.map((r) => mib(r.baselineRssBytes))],
    ['peak RSS sampled, MiB', ...reports.map((r) => mib(r.peakSampledRssBytes))],
    ['VmHWM after (before), MiB', ...reports.map((r) => `${mib(r.hwmAfterBytes)} (${mib(r.hwmBeforeBytes)})`)],
    ['peak − before, MiB', ...reports.map((r) => mib(r.peakRssBytes - r.baselineRssBytes))],
    ['budget + 2 frames, MiB', ...reports.map((r) => mib(r.maxQueuedBytes + 2 * r.maxFrameBytes))],
    ['frames fully written / sent', ...reports.map((r) => `${r.framesWritten} / ${r.frames}`)],
    ['MiB that left the attacker', ...reports.map((r) => `${mib(r.writtenBytes)} of ${mib(r.frames * r.frameBytes)}`)],
    ['flood ended', ...reports.map((r) => `${r.ended} after ${(r.floodMs / 1000).toFixed(1)} s`)],
    ['link closed by the worker', ...reports.map((r) => r.linkClosed ?? 'no')],
    ['alive, same train-init hash', ...reports.map((r) => (r.alive ? `yes (${r.afterJobMs} ms)` : `NO: ${r.afterJobError ?? 'hash changed or process gone'}`))],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => String(row[c]).length)));
  for (const row of rows) console.log(row.map((cell, c) => String(cell).padEnd(widths[c])).join('  '));
}
