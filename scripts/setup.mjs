// `npm start` runs this first: install dependencies when they are missing, then build.
// Uses only Node built-ins so it works before `npm install` has ever run.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

function run(cmd, args) {
  process.stdout.write(`> ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!existsSync('node_modules/.package-lock.json') || !existsSync('node_modules/@tensorflow/tfjs')) {
  // `npm install`, not `npm ci`: the registry here lacks some optional platform packages that a
  // lock made on Linux leaves out, and `npm ci` refuses such a lock. The lock still pins versions.
  run('npm', ['install', '--no-audit', '--no-fund']);
}
run('npm', ['run', 'build']);
