// Bundles the CLI (which is also the worker and coordinator entry point) into dist/ringtrain.cjs.
// npm packages stay external so tfjs and its optional native backends resolve from node_modules.
//
// The dashboard page (libs/dashboard/page) is bundled with its charting library (uPlot) into
// dist/dashboard/: index.html, app.js, app.css. The page loads nothing from outside the machine.
// Its TypeScript is type-checked here against the DOM (the root tsconfig has no DOM types).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

await build({
  entryPoints: ['apps/cli/src/main.ts'],
  outfile: 'dist/ringtrain.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: true,
  tsconfig: 'tsconfig.base.json',
  logLevel: 'warning',
});

const page = 'libs/dashboard/page';
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const check = spawnSync(process.execPath, [tsc, '-p', `${page}/tsconfig.json`], { stdio: 'inherit' });
if (check.status !== 0) process.exit(check.status ?? 1);
rmSync('dist/dashboard', { recursive: true, force: true });
mkdirSync('dist/dashboard', { recursive: true });
await build({
  entryPoints: { app: `${page}/main.ts` },
  outdir: 'dist/dashboard',
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  format: 'iife',
  minify: true,
  sourcemap: true,
  tsconfig: `${page}/tsconfig.json`,
  logLevel: 'warning',
});
copyFileSync(`${page}/index.html`, 'dist/dashboard/index.html');
