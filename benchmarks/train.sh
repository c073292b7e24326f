#!/usr/bin/env bash
# Training throughput at the issue's size (small model, 2 workers, 8192 tokens), run with the
# workers' default node flags and without them (RINGTRAIN_WORKER_NODE_FLAGS=) in alternation,
# so both are measured side by side on a shared machine whose speed drifts. One line per run:
# median step, model GFLOP/s, the sgemm reference (better of before/after) and the ratio.
# About 50 s a round on 2 cores.
# Usage: benchmarks/train.sh [rounds (default 3)] [more `ringtrain bench train` options]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
[ $# -gt 0 ] && shift
node scripts/build.mjs >&2
node scripts/build-native.mjs >&2
run() {
  node dist/ringtrain.cjs bench train --model small --workers 2 --seq-len 8192 --steps 3 --warmup 1 --json "$@" |
    node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const step = [...r.stepMs].sort((a, b) => a - b)[Math.floor(r.stepMs.length / 2)];
      console.log(`step ${step.toFixed(0)} ms, ${r.modelGflops.toFixed(1)} GFLOP/s, sgemm ${r.sgemmGflops?.toFixed(0)} (before/after ${r.sgemmGflopsBeforeAfter.map((x) => x?.toFixed(0)).join("/")}), ratio ${(100 * r.ratio).toFixed(1)}%`);'
}
for ((i = 1; i <= rounds; i++)); do
  echo -n "round $i, default worker flags: "
  run "$@"
  echo -n "round $i, no worker node flags: "
  RINGTRAIN_WORKER_NODE_FLAGS= run "$@"
done
