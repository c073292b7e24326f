#!/usr/bin/env bash
# The GPU check: ringtrain on WebGPU (Dawn over Vulkan) on one GPU machine, in well under
# 10 minutes. Prepare it on a machine with the registries first (it fetches the Vulkan loader,
# which GPU hosts often lack, and builds everything), then run it where the GPU is; that machine
# needs no registry:
#   bash benchmarks/gpu.sh --prepare      # here: npm install + build, libvulkan1 into .cache/gpu-deps
#   bash benchmarks/gpu.sh [OUT_DIR]      # on the GPU host (default OUT_DIR: benchmarks/results/gpu-<date>)
#   RINGTRAIN_GPU_CHECK=lavapipe bash benchmarks/gpu.sh   # rehearsal on Mesa's software Vulkan, small sizes
# It prints and saves: the adapter; webgpu attention GFLOP/s against a webgpu matmul and the GPU's
# fp32 peak (67 TFLOP/s for H100/H200 SXM; PEAK_TFLOPS overrides); `check` with 2 workers on the one
# GPU; one `bench train` step of the `small` model at 8192 and 65536 tokens, with GPU memory.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="$PWD/.cache/gpu-deps"

if [ "${1:-}" = "--prepare" ]; then
  [ -d node_modules/@tensorflow/tfjs ] || npm install --no-audit --no-fund
  npm run build
  mkdir -p "$deps" && (cd "$deps" && chmod 777 . && apt-get download -qq libvulkan1)
  echo "prepared: dist/ringtrain.cjs, $(ls "$deps")"
  exit 0
fi

mode="${RINGTRAIN_GPU_CHECK:-gpu}"
out="${1:-benchmarks/results/gpu-$(date +%Y-%m-%d)}"
mkdir -p "$out"
log() { echo "[gpu.sh $(date +%T)] $*" | tee -a "$out/gpu.log"; }
rt() { node dist/ringtrain.cjs "$@"; }

# --- Vulkan below Dawn -----------------------------------------------------------------------
if [ "$mode" = lavapipe ]; then
  eval "$(bash scripts/lavapipe.sh)"
  backend_flag=(--backend webgpu)
  seqs=1024; train_seqs=(512); check_len=257; heads=4; peak=""
else
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
    deb=$(ls "$deps"/libvulkan1_*.deb 2>/dev/null | head -1 || true)
    [ -n "$deb" ] || { log "no Vulkan loader here and none prepared: run 'bash benchmarks/gpu.sh --prepare' where apt works"; exit 2; }
    dpkg-deb -x "$deb" "$deps/root"
    export LD_LIBRARY_PATH="$deps/root/usr/lib/$(uname -m)-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    log "Vulkan loader from $deb"
  fi
  # The NVIDIA driver's Vulkan ICD lives in libGLX_nvidia.so.0; a container given only the
  # compute capability has the library at most, without the manifest: write one for it.
  if ! ls /etc/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    glx=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')
    [ -n "$glx" ] || { log "no NVIDIA Vulkan driver: neither nvidia_icd.json nor libGLX_nvidia.so.0 (in a container: NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics)"; exit 2; }
    printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$glx" > "$deps/nvidia_icd.json"
    export VK_ICD_FILENAMES="$deps/nvidia_icd.json"
    log "NVIDIA ICD manifest written for $glx"
  fi
  export RINGTRAIN_WEBGPU_TESTS=gpu
  backend_flag=(--backend webgpu)
  seqs=4096,16384; train_seqs=(8192 65536); check_len=4099; heads=8; peak="${PEAK_TFLOPS:-67}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$out/gpu.log" || true
fi

# --- 1. kernels: attention against matmul and peak --------------------------------------------
log "bench gpu"
rt bench gpu --seq-lens "$seqs" --heads "$heads" --head-dim 64 ${peak:+--peak-tflops "$peak"} --json > "$out/bench-gpu.json"
rt bench gpu --seq-lens "$seqs" --heads "$heads" --head-dim 64 ${peak:+--peak-tflops "$peak"} --reps 1 2>/dev/null | tee -a "$out/gpu.log" || true

# --- 2. exactness: every strategy, 2 workers on the one GPU ------------------------------------
log "check, 2 workers"
rt check "${backend_flag[@]}" --strategies ring,striped,zigzag,ulysses --workers 2 --seq-len "$check_len" --heads "$heads" --head-dim 32 --json > "$out/check.json"
grep -o '"ok":[a-z]*' "$out/check.json" | sort | uniq -c | tee -a "$out/gpu.log"

# --- 3. training steps of the small model, GPU memory sampled meanwhile ------------------------
for s in "${train_seqs[@]}"; do
  log "bench train small at $s tokens"
  mem="$out/gpu-memory-$s.csv"
  if [ "$mode" != lavapipe ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$mem" &
    sampler=$!
  fi
  rt bench train "${backend_flag[@]}" --model small --workers 1 --strategy ring --seq-len "$s" --steps 1 --warmup 1 --json > "$out/train-$s.json" || log "bench train at $s failed (see above)"
  if [ "$mode" != lavapipe ]; then
    kill "$sampler" 2>/dev/null || true
    log "peak GPU memory at $s tokens: $(sort -n "$mem" | tail -1) MiB"
  fi
done
log "done: $out"
