#!/usr/bin/env bash
# Wheels that perf/gpu_check.sh needs on a GPU machine whose image has torch, numpy, scipy and numba but neither pooch
# nor platformdirs (and no package index). Run here, where pip reaches PyPI; the command on the GPU machine then
# starts with:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# (.whl/ belongs in .git/info/exclude; it is carried to the machine, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  pooch==1.9.0 platformdirs==4.14.8
