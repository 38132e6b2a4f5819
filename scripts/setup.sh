#!/usr/bin/env bash
# Installs what lape needs on a fresh Debian machine (idempotent), then its npm dependencies.
#   libdnnl-dev           oneDNN, the CPU kernels of the native backend
#   python3-torch, numpy  PyTorch 1.13 for parity fixtures, cross-checks and side-by-side benchmarks
#   libopenblas0-pthread  a real BLAS for that PyTorch (without it Debian's torch falls back to the
#                         reference BLAS at ~6 GFLOP/s, which would make every comparison meaningless)
#   dataset-fashion-mnist the real dataset of the main job and the study
#   chromium              the headless browser tests (HTML report, the onnxruntime-web example)
#   python3-onnx          the ONNX checker run on lape's exports
#   libopenmpi-dev, openmpi-bin  Open MPI, for data-parallel training (--nproc-per-node, mpirun)
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libdnnl-dev python3-torch python3-numpy libopenblas0-pthread dataset-fashion-mnist chromium python3-onnx libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# onnxruntime-node (a dev dependency) carries its CPU binary; its install step would download CUDA
# libraries from outside the npm registry, so it is skipped.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
