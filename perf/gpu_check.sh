#!/usr/bin/env bash
# The GPU check for a lent device machine: builds the venv if needed, then runs every CUDA path once.
# Usage (from the repository root): bash perf/gpu_check.sh   (about 5 minutes on one modern GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .venv/.installed ] || make setup
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
.venv/bin/python perf/gpu_check.py --device cuda "$@"
