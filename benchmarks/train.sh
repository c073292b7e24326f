#!/usr/bin/env bash
# Training throughput at the issue's size (small model, 2 workers, 8192 tokens), repeated, since
# a shared machine's speed drifts by tens of percent within minutes. One line per run: median
# step, model GFLOP/s, the sgemm taken before each timed step, the ratio (each step against the
# better sgemm on either side of it, median) and the pessimistic ratio (against the best sgemm of
# the run);
# then the median of both over all runs. About 35 s a run on 2 cores.
# With COMPARE_FLAGS=1 each round also runs without the workers' node flags
# (RINGTRAIN_WORKER_NODE_FLAGS=), alternating, so the two are measured side by side.
# Usage: benchmarks/train.sh [runs (default 5)] [more `ringtrain bench train` options]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
[ $# -gt 0 ] && shift
node scripts/build.mjs >&2
node scripts/build-native.mjs >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run() {
  node dist/ringtrain.cjs bench train --model small --workers 2 --seq-len 8192 --steps 3 --warmup 1 --json "$@" |
    node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const step = [...r.stepMs].sort((a, b) => a - b)[Math.floor(r.stepMs.length / 2)];
      const pct = (x) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}%`);
      console.log(`step ${step.toFixed(0)} ms, ${r.modelGflops.toFixed(1)} GFLOP/s, sgemm ${r.sgemmGflopsPerStep.map((x) => x.toFixed(0)).join("/")}, ratio ${pct(r.ratio)}, vs best sgemm ${pct(r.ratioVsBestSgemm)}`);
      console.error(JSON.stringify([r.ratio, r.ratioVsBestSgemm]));' 2>>"${RATIO_LOG:-$log}"
}
for ((i = 1; i <= rounds; i++)); do
  echo -n "run $i: "
  run "$@"
  if [ "${COMPARE_FLAGS:-0}" = 1 ]; then
    echo -n "run $i, no worker node flags: "
    RINGTRAIN_WORKER_NODE_FLAGS= RATIO_LOG=/dev/null run "$@"
  fi
done
node -e 'const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`median of ${rows.length} runs: ratio ${pct(med(rows.map((r) => r[0])))}, vs best sgemm ${pct(med(rows.map((r) => r[1])))}; runs with ratio >= 40%: ${rows.filter((r) => r[0] >= 0.4).length}`);' "$log"
