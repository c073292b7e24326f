#!/usr/bin/env bash
# Attention kernels against the machine's limit, with the issue's settings: causal, 1024-8192
# tokens, head dim 64, one head; the limit is the best OpenBLAS sgemm 2048x2048x2048.
# Usage: benchmarks/kernels.sh [more `ringtrain bench kernels` options, e.g. --json]
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs >&2          # dist/ringtrain.cjs
node scripts/build-native.mjs >&2   # the native addon (a no-op when up to date; a notice without a compiler)
node dist/ringtrain.cjs bench kernels --seq-lens 1024,2048,4096,8192 --head-dim 64 --heads 1 --causal "$@"
