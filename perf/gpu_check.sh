#!/usr/bin/env bash
# The GPU check for a lent device machine: runs every CUDA path once (perf/gpu_check.py).
# Usage (from the repository root): bash perf/gpu_check.sh   (about 5 minutes on one modern GPU)
# Uses .venv when it exists; else a python3 that already holds torch (a GPU image; pooch and platformdirs may have to
# be put on PYTHONPATH: perf/gpu_wheels.sh); else builds .venv with `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif python3 -c "import torch" 2>/dev/null; then
  PY=python3
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  make setup
  PY=.venv/bin/python
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONUNBUFFERED=1 "$PY" perf/gpu_check.py --device cuda "$@"
