#!/usr/bin/env bash
# Quick start, step 1: on a fresh Debian 12 machine (as root or with sudo), install everything alexnet-ts
# needs — Debian packages (oneDNN, compiler, Fashion-MNIST), npm packages, the TypeScript build and the
# native addon — then run the main job: d2l's full AlexNet training (alexnet train: variant 224, 10 epochs).
# `--short` runs the main job in its short form (what CI runs): the shape table, then one epoch of a narrow
# 28x28 AlexNet (--width-scale 0.125, lr 0.1, batch 64) on 20,000 examples, about a minute on 2 cores; it
# fails unless the test accuracy reaches 0.6 (a network that learned), and its last line says how to run
# d2l's full experiment. Afterwards the CLI is bin/alexnet (it runs dist/ at once and never builds).
# `--peer` also installs the PyTorch peer for side-by-side benchmarks (python3-torch, libopenblas0).
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
peer=0
for arg in "$@"; do
  case "$arg" in
    --short) short=1 ;;
    --peer) peer=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (use --short, --peer)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: oneDNN for the native backend, a C++ toolchain for node-gyp, the dataset, Chromium (the
# browser tests, and SwiftShader's Vulkan driver for the WebGPU tests), the Vulkan loader, and Open MPI.
packages=(libdnnl-dev g++ make python3 dataset-fashion-mnist chromium libvulkan1 openmpi-bin libopenmpi-dev iproute2)
if [ "$peer" -eq 1 ]; then packages+=(python3-torch libopenblas0); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "       Install it from your distribution or nodejs.org, then run this again." >&2
  exit 1
fi

# npm packages; `prepare` builds the TypeScript, `install` builds the native addon against this machine's
# Node headers (never downloaded).
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
npm ci --no-audit --no-fund

chmod +x bin/alexnet

# The main job: d2l's train_ch6 (progress on the terminal; metrics, plots and checkpoints under runs/).
if [ "$short" -eq 1 ]; then
  # A newcomer's first minute shows learning: d2l's AlexNet at d2l's lr 0.01 learns little in one epoch on a
  # few thousand examples (test acc 0.157 on 3,000), so the short form trains the same network at an eighth
  # of the width, over 10x cheaper per example, on 20,000 examples with lr 0.1 and batch 64 (test acc 0.769
  # with seed 0; 0.738 and 0.775 with seeds 1 and 2).
  MIN_ACC=0.6
  run_dir="runs/short-$(date +%Y%m%d-%H%M%S)"
  bin/alexnet summary --variant 28
  bin/alexnet train --variant 28 --width-scale 0.125 --lr 0.1 --batch-size 64 --epochs 1 \
    --train-limit 20000 --test-limit 1000 --run-dir "$run_dir"
  # The run's own record of its final test accuracy (metrics.jsonl's last testAcc point).
  acc=$(node -e '
    const points = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const last = points.filter((p) => typeof p.testAcc === "number").pop();
    console.log(last ? last.testAcc.toFixed(3) : "none");' "$run_dir/metrics.jsonl")
  if [ "$acc" = "none" ] || ! node -e 'process.exit(Number(process.argv[1]) >= Number(process.argv[2]) ? 0 : 1)' "$acc" "$MIN_ACC"; then
    echo "setup: the short job ended at test acc $acc (below $MIN_ACC: the network did not learn); see $run_dir" >&2
    exit 1
  fi
  echo "setup: short job done, test acc $acc >= $MIN_ACC ($run_dir). d2l's full experiment (AlexNet 224x224, 10 epochs, lr 0.01, batch 128; hours on 2 cores): bin/alexnet train"
else
  bin/alexnet summary --variant 224
  bin/alexnet train
fi
