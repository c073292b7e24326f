#!/usr/bin/env bash
# ws + msgpack against raw TCP between two worker processes, the figure `bench attention` prints
# as "transport": against raw TCP read into one 64 KiB buffer, and against raw TCP read into a
# 4 MiB message buffer (what a receiver that keeps each message must at least do). It does not
# depend on the attention problem, so a short problem measures it.
#
#   benchmarks/transport.sh [RUNS] [BUNDLE ...]
#
# RUNS (default 7) runs of each bundle (default dist/ringtrain.cjs), interleaved run by run so
# that every bundle sees the same load; one line per run, then the medians and ranges. To compare
# with an older commit: git worktree add /tmp/old <commit>, build it there (npm run build), and
# pass /tmp/old/dist/ringtrain.cjs as a second bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
shift || true
bundles=("$@")
[ ${#bundles[@]} -eq 0 ] && bundles=(dist/ringtrain.cjs)
out=$(mktemp)
for ((i = 1; i <= runs; i++)); do
  for b in "${bundles[@]}"; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    node "$b" bench attention --workers 2 --seq-len 256 --heads 4 --head-dim 64 --causal --strategies ring --json 2>/dev/null |
      node -e '
        let s = "";
        process.stdin.on("data", (d) => (s += d)).on("end", () => {
          const t = JSON.parse(s).transport;
          const m = t.rawTcpIntoMessagesBytesPerSec;
          console.log([process.argv[1], process.argv[2], (t.wsMsgpackBytesPerSec / 1e9).toFixed(2), (t.rawTcpBytesPerSec / 1e9).toFixed(2), t.ratio.toFixed(3), m ? (m / 1e9).toFixed(2) : "-", t.ratioIntoMessages ? t.ratioIntoMessages.toFixed(3) : "-"].join(" "));
        });' "$b" "$load" | tee -a "$out"
  done
done
echo "bundle: median (range) of ws+msgpack GB/s, raw TCP GB/s, ratio; raw TCP into messages GB/s, ratio to it"
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  for (const b of [...new Set(rows.map((r) => r[0]))]) {
    const mine = rows.filter((r) => r[0] === b);
    const col = (i) => mine.map((r) => Number(r[i]));
    const show = (i, d) => `${med(col(i)).toFixed(d)} (${Math.min(...col(i)).toFixed(d)}-${Math.max(...col(i)).toFixed(d)})`;
    const more = mine.every((r) => r[5] !== "-") ? `; ${show(5, 2)}, ${show(6, 3)}` : "";
    console.log(`${b}: ${show(2, 2)}, ${show(3, 2)}, ${show(4, 3)}${more}  [${mine.length} runs, load ${Math.min(...col(1))}-${Math.max(...col(1))}]`);
  }' "$out"
rm -f "$out"
