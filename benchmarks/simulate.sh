#!/usr/bin/env bash
# Step time of every strategy at P = 8..512 and S = 32K..1M on NVLink and 100 GbE links.
#   1. measured: fits the native kernel's GFLOP/s on this machine (single-process run of the
#      issue's problem, S=16384, 1 head, head dim 64), runs ring/striped/zigzag there to set
#      the model beside the measurement, and projects that problem (1 head: ulysses cannot
#      split it, the table says so). About a minute.
#   2. assumed, not measured: a 200 TFLOP/s accelerator on a 32-head GQA layer (8 K/V heads,
#      head dim 128), to show where communication stops hiding behind fast compute.
# Usage: benchmarks/simulate.sh [more `ringtrain bench attention` options]
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs >&2
node scripts/build-native.mjs >&2
node dist/ringtrain.cjs bench attention --simulate --workers 2 --seq-len 16384 --causal --heads 1 --head-dim 64 \
  --strategies ring,striped,zigzag --transport-mib 64 "$@"
echo
node dist/ringtrain.cjs bench attention --simulate --gflops 200000 --causal --heads 32 --kv-heads 8 --head-dim 128 "$@"
