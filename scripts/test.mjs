// `npm test`'s jest, in two runs: the webgpu tests (paths containing "webgpu") under the Vulkan
// driver they need, everything else without it, so no other test sees a GPU driver.
//   - .cache/lavapipe/env present (scripts/lavapipe.sh ran; CI does): the webgpu tests run on
//     lavapipe and must find its software adapter.
//   - RINGTRAIN_WEBGPU_TESTS=gpu: they run on this machine's GPU and must find a hardware one.
//   - neither: they are reported as skipped, with the reason.
// Extra arguments go to both jest runs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const jest = ['node_modules/jest/bin/jest.js'];
const args = process.argv.slice(2);
const lavapipeEnv = '.cache/lavapipe/env';

function run(extra, env) {
  const r = spawnSync(process.execPath, [...jest, ...extra, ...args], { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run(['--testPathIgnorePatterns', '/node_modules/', 'webgpu'], process.env);

const env = { ...process.env };
if (!env.RINGTRAIN_WEBGPU_TESTS && existsSync(lavapipeEnv)) {
  for (const line of readFileSync(lavapipeEnv, 'utf8').split('\n').filter(Boolean)) {
    const [key, ...rest] = line.split('=');
    env[key] = key === 'LD_LIBRARY_PATH' && env.LD_LIBRARY_PATH ? `${rest.join('=')}:${env.LD_LIBRARY_PATH}` : rest.join('=');
  }
  env.RINGTRAIN_WEBGPU_TESTS = 'lavapipe';
}
console.log(`\nwebgpu tests: ${env.RINGTRAIN_WEBGPU_TESTS ? `on ${env.RINGTRAIN_WEBGPU_TESTS}` : 'no Vulkan driver set up (bash scripts/lavapipe.sh, or RINGTRAIN_WEBGPU_TESTS=gpu on a GPU host): skipped'}`);
// One file at a time: lavapipe already uses every core, and Dawn's device threads keep a jest
// worker alive after its tests (hence --forceExit once they have all run).
run(['--testPathPattern', 'webgpu', '--runInBand', '--forceExit'], env);
