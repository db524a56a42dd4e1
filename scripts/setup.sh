#!/usr/bin/env bash
# Quick start, step 1: on a fresh Debian 12 machine (as root or with sudo), install everything alexnet-ts
# needs — Debian packages (oneDNN, compiler, Fashion-MNIST), npm packages, the TypeScript build and the
# native addon — then run the main job: d2l's full AlexNet training (alexnet train: variant 224, 10 epochs).
# `--short` runs the main job in its short form (what CI runs): one epoch of the 28x28 variant on a subset.
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
packages=(libdnnl-dev g++ make python3 dataset-fashion-mnist chromium libvulkan1 openmpi-bin libopenmpi-dev)
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

# The main job: d2l's train_ch6 (progress on the terminal; metrics, plots and checkpoints under runs/).
if [ "$short" -eq 1 ]; then
  node dist/src/cli/main.js summary --variant 28
  node dist/src/cli/main.js train --variant 28 --epochs 1 --train-limit 3000 --test-limit 1000
else
  node dist/src/cli/main.js summary --variant 224
  node dist/src/cli/main.js train
fi
