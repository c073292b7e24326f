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
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run('npm', ['run', 'build']);
