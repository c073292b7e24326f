// Builds the native CPU kernels (kernels/native) from source with node-gyp; `npm run build` runs it.
// Never fails the project: without a compiler (or node headers) it prints why and exits 0, and
// ringtrain keeps running on the pure-JS tfjs CPU backend.
//
//   - OpenBLAS: found through `pkg-config openblas` or the usual Debian/Fedora paths; when
//     present, MatMul uses cblas_sgemm. Without it the portable gemm is built and one line says
//     how to get the fast path.
//   - Two addons from one build: ringtrain_native (OpenBLAS when found) and
//     ringtrain_native_noblas (portable gemm always), so tests cover the fallback every run.
//   - CPU level: -march=x86-64-v4 when the CPU has AVX-512 (F/BW/CD/DQ/VL), x86-64-v3 with
//     AVX2+FMA (plus -mno-lzcnt where a hypervisor hides LZCNT), else the compiler default. These are standard levels, not -march=native, so a
//     build runs on any machine of the same kind. Rebuild (npm run build) on an older CPU.
//   - OpenBLAS 0.3.21 (Debian 12) does not recognise some newer CPUs and falls back to its
//     slowest kernels (4-5x slower on Sapphire/Emerald Rapids). After building, a short probe
//     times sgemm under the OPENBLAS_CORETYPE choices the CPU supports and records a clearly
//     faster one; the loader applies it when OPENBLAS_CORETYPE is not already set.
//
// Environment: RINGTRAIN_NATIVE_SKIP=1 (build nothing), RINGTRAIN_NATIVE_NO_BLAS=1 (no OpenBLAS
// even if installed), RINGTRAIN_NATIVE_ARCH=x86-64-v3|x86-64-v4|none (override the CPU level),
// RINGTRAIN_NATIVE_REBUILD=1 (ignore the up-to-date check).
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'kernels/native');
const releaseDir = join(nativeDir, 'build/Release');
const addons = ['ringtrain_native.node', 'ringtrain_native_noblas.node'].map((f) => join(releaseDir, f));
const configFile = join(releaseDir, 'ringtrain_native.json');
const env = process.env;
const say = (line) => process.stdout.write(`native: ${line}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

function notice(why) {
  for (const f of addons) rmSync(f, { force: true }); // never leave a stale addon behind
  say(`not built (${why}); ringtrain runs on the pure-JS tfjs CPU backend, slower but complete.`);
  say('to get the native kernels: install a C++ toolchain (apt-get install g++ make python3), then npm run build');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    env.npm_config_node_gyp,
    (() => {
      try {
        return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
      } catch {
        return undefined;
      }
    })(),
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((p) => p && p.endsWith('.js') && existsSync(p)); // run with this node
}

/** Node's own headers beside the binary (distro and tarball installs), so node-gyp downloads nothing. */
function findNodeDir() {
  if (env.npm_config_nodedir && existsSync(join(env.npm_config_nodedir, 'include/node/node_api.h'))) return env.npm_config_nodedir;
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include/node/common.gypi')) ? prefix : undefined;
}

function cpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set(line ? line.split(':')[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

function archFlags(cxx, flags) {
  const want = env.RINGTRAIN_NATIVE_ARCH;
  if (want === 'none') return [];
  let level = want;
  // Some hypervisors hide LZCNT ("abm") while passing AVX2 and AVX-512 through (seen on an AMD
  // EPYC KVM guest): the level then goes with -mno-lzcnt rather than being dropped, which cost
  // the kernels 5x (SSE2 only). The compiler must not emit lzcnt there: on a CPU without it the
  // instruction runs as bsr and gives wrong answers instead of faulting.
  let noLzcnt = false;
  if (!level && process.arch === 'x64') {
    const has = (...f) => f.every((x) => flags.has(x));
    if (has('avx2', 'fma', 'bmi1', 'bmi2', 'f16c', 'movbe')) {
      level = 'x86-64-v3';
      noLzcnt = !has('abm');
    }
    if (level && has('avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl')) level = 'x86-64-v4';
  }
  if (!level) return [];
  const out = [`-march=${level}`, ...(level === 'x86-64-v4' ? ['-mprefer-vector-width=512'] : []), ...(noLzcnt ? ['-mno-lzcnt'] : [])];
  // Older compilers lack the level names; AVX2+FMA flags are the safe equivalent of v3 for our code.
  if (run(cxx, [...out, '-x', 'c++', '-c', '-o', '/dev/null', '-'], { input: '' }).ok) return out;
  return level.startsWith('x86-64-v') ? ['-mavx2', '-mfma'] : [];
}

function findOpenBlas() {
  if (env.RINGTRAIN_NATIVE_NO_BLAS === '1') return null;
  const pc = (name) => {
    const r = run('pkg-config', [`--variable=${name}`, 'openblas']);
    return r.ok ? r.out.trim().replace(/\/$/, '') : '';
  };
  const candidates = [{ include: pc('includedir'), libdir: pc('libdir') }];
  // Without pkg-config: Debian/Ubuntu multiarch, Fedora, /usr/local and OpenBLAS's own default prefix.
  for (const triple of ['x86_64-linux-gnu', 'aarch64-linux-gnu']) {
    for (const flavour of ['openblas-pthread', 'openblas-openmp', 'openblas-serial']) {
      candidates.push({ include: `/usr/include/${triple}/${flavour}`, libdir: `/usr/lib/${triple}/${flavour}` });
    }
  }
  candidates.push(
    { include: '/usr/include/openblas', libdir: '/usr/lib64' },
    { include: '/usr/local/include', libdir: '/usr/local/lib' },
    { include: '/opt/OpenBLAS/include', libdir: '/opt/OpenBLAS/lib' },
  );
  const found = (c) => c.include && c.libdir && existsSync(join(c.include, 'cblas.h')) && existsSync(join(c.include, 'openblas_config.h')) && hasLib(c.libdir);
  return candidates.find(found) ?? null;
}

function hasLib(dir) {
  return existsSync(join(dir, 'libopenblas.so')) || existsSync(join(dir, 'libopenblas.dylib'));
}

function inputsHash(parts) {
  const h = createHash('sha256');
  for (const f of ['binding.gyp', ...readdirSync(join(nativeDir, 'src')).map((f) => `src/${f}`)].sort()) {
    h.update(f).update(readFileSync(join(nativeDir, f)));
  }
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  h.update(JSON.stringify(parts));
  return h.digest('hex');
}

function build(nodeGyp, nodeDir, blas, arch) {
  const common = nodeDir ? [`--nodedir=${nodeDir}`] : [];
  const defines = [`-Drt_blas=${blas ? 1 : 0}`, `-Drt_arch_flags=${arch.join(' ')}`];
  if (blas) defines.push(`-Drt_blas_include=${blas.include}`, `-Drt_blas_libdir=${blas.libdir}`);
  const configure = run(process.execPath, [nodeGyp, 'configure', ...common, '--', ...defines], { cwd: nativeDir });
  if (!configure.ok) return configure;
  return run(process.execPath, [nodeGyp, 'build', ...common, `-j`, String(Math.max(2, cpus().length))], { cwd: nativeDir });
}

/**
 * Times sgemm (1 thread) under each OPENBLAS_CORETYPE the CPU supports, in fresh processes since
 * OpenBLAS picks its kernels once at load. Returns the core type to force, or null to keep the default.
 */
function probeOpenBlasCore(flags) {
  const has = (...f) => f.every((x) => flags.has(x));
  const choices = [''];
  if (has('avx2', 'fma')) choices.push('Haswell');
  if (has('avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl')) choices.push('SkylakeX');
  if (has('avx512f', 'avx512_bf16')) choices.push('Cooperlake');
  if (has('avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_bf16')) choices.push('SapphireRapids');
  if (choices.length === 1) return { coreType: null, results: {} };
  const script = `
    const a = require(process.argv[1]); const n = 384;
    const A = new Float32Array(n * n).fill(0.5), C = new Float32Array(n * n);
    let best = Infinity; const end = Date.now() + 250;
    while (Date.now() < end) { const t = process.hrtime.bigint(); a.sgemm(false, false, n, n, n, 1, A, n, A, n, 0, C, n, 1);
      best = Math.min(best, Number(process.hrtime.bigint() - t)); }
    console.log(JSON.stringify({ core: a.info().blasCore, gflops: (2 * n ** 3) / best }));`;
  const results = {};
  for (const choice of choices) {
    const childEnv = { ...env, OPENBLAS_NUM_THREADS: '1' };
    if (choice) childEnv.OPENBLAS_CORETYPE = choice;
    else delete childEnv.OPENBLAS_CORETYPE;
    const r = run(process.execPath, ['-e', script, addons[0]], { env: childEnv });
    if (!r.ok) continue;
    try {
      results[choice || 'default'] = JSON.parse(r.out.trim().split('\n').pop());
    } catch {
      // a choice this OpenBLAS does not know: skip it
    }
  }
  const base = results.default?.gflops ?? 0;
  const [bestName, best] = Object.entries(results).sort((x, y) => y[1].gflops - x[1].gflops)[0] ?? [];
  const coreType = bestName && bestName !== 'default' && best.gflops > 1.25 * base ? bestName : null;
  return { coreType, results };
}

// ---------------------------------------------------------------------------------------------
if (env.RINGTRAIN_NATIVE_SKIP === '1') {
  say('skipped (RINGTRAIN_NATIVE_SKIP=1)');
  process.exit(0);
}
const cxx = env.CXX || 'c++';
if (!run(cxx, ['--version']).ok) notice(`no C++ compiler: \`${cxx} --version\` failed`);
const nodeGyp = findNodeGyp();
if (!nodeGyp) notice('node-gyp not found (it ships with npm)');
const nodeDir = findNodeDir();
const flags = cpuFlags();
const arch = archFlags(cxx, flags);
let blas = findOpenBlas();
const hash = inputsHash({ blas, arch, nodeDir, abi: process.versions.modules, cxx });

let previous = null;
try {
  previous = JSON.parse(readFileSync(configFile, 'utf8'));
} catch {
  // first build
}
if (env.RINGTRAIN_NATIVE_REBUILD !== '1' && previous?.inputsHash === hash && addons.every((f) => existsSync(f))) {
  say(`up to date (${previous.summary})`);
  process.exit(0);
}

const started = Date.now();
let result = build(nodeGyp, nodeDir, blas, arch);
if (!result.ok && blas) {
  say(`building with OpenBLAS (${blas.include}) failed; retrying with the portable gemm`);
  blas = null;
  result = build(nodeGyp, nodeDir, null, arch);
}
if (!result.ok) {
  process.stdout.write(result.out.split('\n').slice(-25).join('\n') + '\n');
  notice(`the compile failed (${result.error?.message ?? 'see the output above'})`);
}

const probe = blas ? probeOpenBlasCore(flags) : { coreType: null, results: {} };
const seconds = ((Date.now() - started) / 1000).toFixed(1);
const summary = [
  blas ? `OpenBLAS ${blas.libdir}` : 'portable gemm',
  arch.length ? arch.join(' ') : 'default -march',
  probe.coreType ? `OPENBLAS_CORETYPE=${probe.coreType} (${probe.results.default?.core ?? '?'} detected)` : null,
]
  .filter(Boolean)
  .join(', ');
writeFileSync(
  configFile,
  JSON.stringify({ inputsHash: hash, summary, blas, arch, openblasCoreType: probe.coreType, probe: probe.results }, null, 2) + '\n',
);
say(`built in ${seconds}s: ${summary}`);
if (probe.coreType) {
  const r = probe.results;
  say(`OpenBLAS picked ${r.default?.core} here (${r.default?.gflops.toFixed(0)} GFLOP/s); ${probe.coreType} runs ${r[probe.coreType].gflops.toFixed(0)} GFLOP/s, so the loader sets it when OPENBLAS_CORETYPE is unset`);
}
if (!blas && env.RINGTRAIN_NATIVE_NO_BLAS !== '1') {
  say('OpenBLAS not found: MatMul uses the portable gemm; for the fast path run `apt-get install libopenblas-dev`, then `npm run build`');
}
