#!/usr/bin/env bash
# The GPU benchmark, for a Linux GPU machine without network or Node (under 8 minutes): webgpu op
# micro-benchmarks (every AlexNet conv layer forward and both backwards at batch 128, variant 224, and
# the three linear layers, GFLOP/s each), a whole training step on the backend for both variants,
# `alexnet bench --device gpu` for both variants where the CLI has --device, and the same network in
# PyTorch on CUDA (fp32 and AMP) when `python3 -c "import torch"` works, with the ratio. Before the
# training numbers, every GEMM variant (tile, prefetch, split-K) on every AlexNet layer at variant 224,
# batch 128, GFLOP/s each and the tuner's pick (bench/webgpu-variants.ts); it saves the picks to the
# tuner's cache (in $out/cache), so the training steps and `alexnet bench` after it run tuned kernels.
# From the repository root, with the offline bundle (/work/shared/bundle/make-offline-bundle.sh) in .bundle:
#   bash bench/gpu.sh            (re-runs itself through .bundle/run-from-bundle.sh when node is missing)
#   bash .bundle/run-from-bundle.sh bash "$PWD/bench/gpu.sh"
# Output: human-readable lines, and every JSON result under ${GPU_BENCH_OUT:-$OUT or /tmp/gpu-bench}.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
if ! command -v node >/dev/null 2>&1; then
  if [ -f "$repo/.bundle/run-from-bundle.sh" ]; then exec bash "$repo/.bundle/run-from-bundle.sh" bash "$here/gpu.sh" "$@"; fi
  echo "gpu.sh: no node and no .bundle/run-from-bundle.sh (make the bundle with make-offline-bundle.sh)" >&2
  exit 2
fi
# The app: the bundle's unpacked copy when run through it (cwd has dist/), else this checkout's build.
app=$PWD
[ -f "$app/dist/bench/webgpu-ops.js" ] || app=$repo
[ -f "$app/dist/bench/webgpu-ops.js" ] || { echo "gpu.sh: no dist/bench/webgpu-ops.js (build first)" >&2; exit 2; }
out=${GPU_BENCH_OUT:-${OUT:-/tmp/gpu-bench}}
mkdir -p "$out"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "adapter"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-(loader default)}"

# The tuner's cache for this run only (a machine's own cache stays as it was).
export XDG_CACHE_HOME="$out/cache"
mkdir -p "$XDG_CACHE_HOME"

step "GEMM variants per AlexNet layer, variant 224, batch 128 (GFLOP/s each; the tuner picks the fastest)"
if [ -f "$app/dist/bench/webgpu-variants.js" ]; then
  timeout 240 node "$app/dist/bench/webgpu-variants.js" --variant 224 --batch 128 --reps 5 --warmup 2 --save --json-out "$out/variants224.json" \
    || echo "variant benchmark failed (rc $?)"
else
  echo "skipped: this build has no dist/bench/webgpu-variants.js"
fi

step "webgpu op micro-benchmarks, variant 224, batch 128"
timeout 200 node "$app/dist/bench/webgpu-ops.js" --variant 224 --batch 128 --reps 5 --only ops --json > "$out/ops224.json"
rc=$?
[ $rc -eq 0 ] && node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`on ${r.device}`);
  for (const o of r.ops) console.log(`  ${o.op.padEnd(28)} ${o.ms.toFixed(3).padStart(9)} ms ${o.gflops.toFixed(0).padStart(7)} GFLOP/s  ${o.shape}`);
' "$out/ops224.json" || echo "op benchmark failed (rc $rc)"

for v in 224 28; do
  step "webgpu training step on the backend, variant $v, batch 128"
  timeout 90 node "$app/dist/bench/webgpu-ops.js" --variant "$v" --batch 128 --reps 5 --only net --json > "$out/net$v.json" \
    && node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`train ${r.net.train.toFixed(1)} examples/s, infer ${r.net.infer.toFixed(1)} examples/s`)' "$out/net$v.json" \
    || echo "failed"
done

cli="$app/dist/src/cli/main.js"
for v in 224 28; do
  step "alexnet bench --device gpu --variant $v"
  if node "$cli" bench --help 2>&1 | grep -q -- "--device"; then
    timeout 120 node "$cli" bench --device gpu --variant "$v" --batch-size 128 --json > "$out/bench$v.json" && cat "$out/bench$v.json" || echo "failed"
  else
    echo "skipped: this build's alexnet bench has no --device flag yet"
  fi
done

py=$(command -v python3 || true)
if [ -n "$py" ] && "$py" -c "import torch" 2>/dev/null && "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  for v in 224 28; do
    for prec in fp32 amp; do
      step "PyTorch CUDA, variant $v, $prec"
      timeout 90 "$py" "$here/pytorch_alexnet.py" --device cuda --variant "$v" --batch-size 128 --steps 20 --warmup 5 --precision "$prec" \
        > "$out/torch$v-$prec.json" && cat "$out/torch$v-$prec.json" || echo "failed"
    done
  done
  step "ratios (webgpu training examples/s over PyTorch CUDA's)"
  node -e '
    const fs = require("fs"); const dir = process.argv[1];
    const read = (f) => { try { return JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8")); } catch { return null; } };
    for (const v of ["224", "28"]) {
      const ours = read(`bench${v}.json`)?.train_examples_per_sec ?? read(`net${v}.json`)?.net?.train;
      for (const p of ["fp32", "amp"]) {
        const t = read(`torch${v}-${p}.json`)?.train_examples_per_sec;
        if (ours && t) console.log(`variant ${v}: webgpu ${ours.toFixed(1)} / torch cuda ${p} ${t.toFixed(1)} examples/s = ${(ours / t).toFixed(2)}x`);
      }
    }
  ' "$out"
else
  step "PyTorch CUDA: skipped (python3 with torch and CUDA not found)"
fi
step "done; JSON in $out"
