#!/usr/bin/env bash
# GPU check: on a machine with a real GPU (NVIDIA + its Vulkan driver), run the GPU kernel tests on
# that adapter, then the full bench (both matmul variants, 4096³ included, peers TF.js and jax-js
# on the same adapter), and write bench/results/gpu-<adapter>.json (+ .md) — all within 8 minutes.
#
#   bash scripts/gpu-check.sh             full mode: needs a real GPU (refuses SwiftShader)
#   bash scripts/gpu-check.sh --reduced   the same steps, shortened, on whatever adapter Dawn finds
#                                         (SwiftShader here); used by test/gpu-check.test.ts
#   options: --out DIR (results folder, default bench/results), --budget SECONDS (default 480)
#
# Vulkan for Node's Dawn (the `webgpu` npm package) on Debian/Ubuntu: the loader `libvulkan1`
# (apt-get install libvulkan1) and the NVIDIA ICD, i.e. the driver's Vulkan manifest
# (/usr/share/vulkan/icd.d/nvidia_icd.json or /etc/vulkan/icd.d/nvidia_icd.json, installed with
# the NVIDIA driver, e.g. Debian's nvidia-driver / nvidia-vulkan-icd or the .run installer).
# Full mode sets SAP_USE_SYSTEM_VULKAN=1 so src/engine/node-gpu.ts does not point Vulkan at
# SwiftShader; set VK_ICD_FILENAMES=/path/to/nvidia_icd.json yourself if the loader does not find
# it. `vulkaninfo --summary` (package vulkan-tools) shows what the loader sees.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=full
out=bench/results
budget=480
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reduced) mode=reduced ;;
    --out) out="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    *) echo "gpu-check: unknown option '$1' (--reduced, --out DIR, --budget SECONDS)" >&2; exit 2 ;;
  esac
  shift
done

start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }


if [[ $mode == full ]]; then
  export SAP_USE_SYSTEM_VULKAN=1
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
    echo "gpu-check: the Vulkan loader libvulkan.so.1 is missing: apt-get install libvulkan1 (and the NVIDIA driver's Vulkan ICD)" >&2
    exit 3
  fi
fi

info=$(timeout 60 node --import tsx bench/adapter-info.ts 2>/dev/null | tail -1)
if [[ -z "$info" ]]; then
  echo "gpu-check: no WebGPU adapter found by Dawn (mode $mode). Check 'vulkaninfo --summary'; set VK_ICD_FILENAMES to the NVIDIA ICD json." >&2
  exit 3
fi
slug=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).slug)' "$info")
swift=$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).isSwiftShader))' "$info")
echo "gpu-check: mode $mode, adapter $info"
if [[ $mode == full && $swift == true ]]; then
  echo "gpu-check: Dawn found only SwiftShader (a CPU adapter): install libvulkan1 and the NVIDIA Vulkan ICD, or run with --reduced" >&2
  exit 3
fi

# 1. GPU kernel tests on this adapter (vitest uses src/engine/node-gpu.ts, so the same adapter).
if [[ $mode == full ]]; then
  tests=(test/kernels-matmul.test.ts test/kernels-attention.test.ts test/kernels-elementwise.test.ts test/kernels-layernorm.test.ts test/kernels-loss.test.ts test/kernels-reduce.test.ts test/kernels-metrics.test.ts test/topk.test.ts test/stan-sparse.test.ts test/atoms-kernels.test.ts test/adamw.test.ts test/conv.test.ts test/vae-kernels.test.ts)
  test_budget=$(( $(left) / 3 ))
else
  tests=(test/kernels-elementwise.test.ts)
  test_budget=$(( $(left) / 2 ))
fi
timeout "$test_budget" npx vitest run "${tests[@]}" --reporter=dot > /tmp/gpu-check-tests.$$.log 2>&1
test_rc=$?
tail -5 /tmp/gpu-check-tests.$$.log
summary=$(grep -E 'Tests +[0-9]' /tmp/gpu-check-tests.$$.log | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' ' | tail -1)
rm -f /tmp/gpu-check-tests.$$.log
[[ $test_rc -eq 124 ]] && summary="timed out after ${test_budget}s"
echo "gpu-check: kernel tests rc=$test_rc ($summary)"

# 2. The bench on this adapter, with what is left of the budget.
bench_budget=$(( $(left) - 10 ))
if [[ $bench_budget -lt 30 ]]; then
  echo "gpu-check: no time left for the bench (${bench_budget}s)" >&2
  exit 4
fi
if [[ $mode == full ]]; then
  bench_args=(--matmul-large)
else
  bench_args=(--quick --no-peers --groups matmul,steps --matmul-shapes 64x64x64,128x96x80 --steps regression-small)
fi
note="gpu-check ($mode): kernel tests rc=$test_rc ($summary) on this adapter."
timeout "$bench_budget" node --import tsx --import ./scripts/wgsl-hooks.mjs bench/run.ts "${bench_args[@]}" --out "$out" --name "gpu-$slug" --note "$note" > /dev/null 2> /tmp/gpu-check-bench.$$.log
bench_rc=$?
grep -v XDG_RUNTIME_DIR /tmp/gpu-check-bench.$$.log | tail -40
rm -f /tmp/gpu-check-bench.$$.log
echo "gpu-check: bench rc=$bench_rc → $out/gpu-$slug.json ($(( $(date +%s) - start ))s of ${budget}s)"
if [[ $test_rc -ne 0 || $bench_rc -ne 0 ]]; then exit 1; fi
exit 0
