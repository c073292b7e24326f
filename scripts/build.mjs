// Bundles the CLI (which is also the worker and coordinator entry point) into dist/ringtrain.cjs.
// npm packages stay external so tfjs and its optional native backends resolve from node_modules.
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
