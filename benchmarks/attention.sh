#!/usr/bin/env bash
# Strategies across real worker processes against one worker and against plain ring attention.
#   small  S=4096, 2 heads: every strategy runs (ulysses needs heads divisible by P).
#          About 30 s on 2 cores.
#   large  the issue's run: P=2, S=16384, causal, 1 head, head dim 64. Ulysses is skipped
#          (1 head does not split over 2 ranks) and the report says so; rsa alone takes about
#          25 s a repetition. About 2.5 minutes.
# Usage: benchmarks/attention.sh [small|large|all] [more `ringtrain bench attention` options]
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
[ $# -gt 0 ] && shift
node scripts/build.mjs >&2
node scripts/build-native.mjs >&2
if [ "$which" = small ] || [ "$which" = all ]; then
  node dist/ringtrain.cjs bench attention --workers 2 --seq-len 4096 --causal --heads 2 --head-dim 64 "$@"
fi
if [ "$which" = large ] || [ "$which" = all ]; then
  node dist/ringtrain.cjs bench attention --workers 2 --seq-len 16384 --causal --heads 1 --head-dim 64 "$@"
fi
