#!/usr/bin/env bash
# What step timelines cost, side by side in one run: `ringtrain train --trace-every 2` traces the
# even steps and not the odd ones, so traced and untraced steps alternate on the same machine, data
# and compute (a shared machine's speed drifts by tens of percent between runs, far more than the
# effect). The cost of a traced step is the median difference of each even step from the odd step
# before it (paired, so drift cancels), less the same median in a run without tracing (even and odd
# steps differ by a few ms by themselves); each round runs both, one after the other. Steps are
# the coordinator's time of each step in metrics.jsonl, the first WARMUP of a run left out.
# The coordinator's own work per sampled step (trace.jsonl line, trace.json rewrite) runs between
# steps, outside stepMs: trace-cost.ts measures it directly, with the runs' span count, and the
# instrumentation points off and on. The estimate for --trace-every N is
# (cost of a traced step + coordinator work) / (N × median untraced step).
# About 30 s a round on 2 cores with the defaults.
# Usage: benchmarks/trace-overhead.sh [rounds (default 5)]
#   MODEL=tiny SEQ=1024 STEPS=100 WARMUP=2 benchmarks/trace-overhead.sh 5   (the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
model="${MODEL:-tiny}" seq="${SEQ:-1024}" steps="${STEPS:-100}" warmup="${WARMUP:-2}"
node scripts/build.mjs >&2
node scripts/build-native.mjs >&2
npx esbuild benchmarks/trace-cost.ts --bundle --platform=node --packages=external --tsconfig=tsconfig.base.json --outfile=dist/trace-cost.cjs --log-level=warning
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for ((i = 1; i <= rounds; i++)); do
  for every in 2 0; do
    node dist/ringtrain.cjs train --workers 2 --strategy striped --model "$model" --seq-len "$seq" --steps "$steps" --trace-every "$every" \
      --eval-samples 1 --checkpoint-every 0 --run-dir "$work/r$i-e$every" >/dev/null 2>"$work/r$i-e$every.log"
  done
  echo "round $i done" >&2
done
spans=$(node - "$work" "$warmup" <<'EOF'
const fs = require('fs');
const [work, warmup] = [process.argv[2], Number(process.argv[3])];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const lines = (f) => fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const steps = { 0: { odd: [], even: [], diff: [] }, 2: { odd: [], even: [], diff: [] } };
const spans = [];
for (const d of fs.readdirSync(work).filter((d) => !d.includes('.'))) {
  const m = steps[Number(d.split('-e')[1])];
  const ms = new Map(lines(`${work}/${d}/metrics.jsonl`).map((x) => [x.step, x.stepMs]));
  for (const [step, t] of ms) {
    if (step <= warmup) continue;
    (step % 2 ? m.odd : m.even).push(t);
    if (step % 2 === 0 && step - 1 > warmup) m.diff.push(t - ms.get(step - 1));
  }
  if (fs.existsSync(`${work}/${d}/trace.jsonl`)) for (const l of lines(`${work}/${d}/trace.jsonl`)) spans.push(...l.ranks.map((r) => r.spans.length));
}
// Per round too: how far the estimate moves from round to round is its noise.
const perRound = [];
for (let i = 1; fs.existsSync(`${work}/r${i}-e2`); i++) {
  const d = (e) => {
    const ms = new Map(lines(`${work}/r${i}-e${e}/metrics.jsonl`).map((x) => [x.step, x.stepMs]));
    return median([...ms].filter(([s]) => s % 2 === 0 && s - 1 > warmup).map(([s, t]) => t - ms.get(s - 1)));
  };
  perRound.push(d(2) - d(0));
}
console.error(`a traced step's cost by round: ${perRound.map((x) => x.toFixed(2)).join(', ')} ms`);
const base = median([...steps[0].odd, ...steps[0].even, ...steps[2].odd]);
const diff = median(steps[2].diff) - median(steps[0].diff);
const pct = (x) => `${((100 * x) / base).toFixed(2)}%`;
for (const e of [2, 0]) {
  const m = steps[e];
  console.error(`--trace-every ${e}: odd steps median ${median(m.odd).toFixed(1)} ms, even ${median(m.even).toFixed(1)} ms, even − odd before it: median ${median(m.diff).toFixed(2)} ms over ${m.diff.length} pairs`);
}
console.error(`a traced step costs ${diff.toFixed(2)} ms (${pct(diff)} of the median untraced step, ${base.toFixed(1)} ms)`);
console.error(`spans a rank a traced step: ${Math.min(...spans)}–${Math.max(...spans)}`);
fs.writeFileSync(`${work}/summary.json`, JSON.stringify({ base, diff }));
console.log(Math.max(...spans));
EOF
)
node dist/trace-cost.cjs "$spans" | tee "$work/cost.txt"
node -e '
  const fs = require("fs");
  const { base, diff } = JSON.parse(fs.readFileSync(process.argv[1] + "/summary.json", "utf8"));
  const coord = Number(/(\S+) ms a sampled step/.exec(fs.readFileSync(process.argv[1] + "/cost.txt", "utf8"))[1]);
  for (const n of [1, 10]) console.log(`--trace-every ${n}: (${diff.toFixed(2)} + ${coord.toFixed(1)}) / (${n} × ${base.toFixed(1)}) = ${(100 * (diff + coord) / (n * base)).toFixed(2)}% of training time`);
' "$work"
