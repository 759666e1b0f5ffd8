"""Two DDP processes (torchrun, gloo on 127.0.0.1, CPU) against one process with the same global batch.

What makes the equality hold:
* the correlation term pairs every image of the *global* batch with every other: the processes all-gather their
  predictions and targets (differentiably), and the local cross-entropy is weighted so that DDP's gradient average
  is the gradient of the one-process loss;
* BatchNorm: in training mode each process would normalise with its own share's statistics (2 x 3 images cannot
  reproduce 1 x 6), and torch has no SyncBatchNorm on CPU; the test uses ``--batch-norm frozen`` (running
  statistics, affine parameters still trained; on CUDA ``--batch-norm sync`` is the option);
* float64 (``--dtype float64``): the two set-ups sum gradients in a different order. In float32 the gradients
  agree to ~1e-7 relative, but Adam's normalised first steps turn rounding noise in near-zero gradient entries into
  +-lr updates: measured max |weight difference| 2.6e-4 after 4 steps at lr 1e-4 (losses equal to 1e-5). In
  float64 that noise sits far below Adam's eps, and the weights agree to rounding (asserted < 1e-9).
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from realnet_plugin.cli import main
from realnet_plugin.training import build_teacher

REPO = Path(__file__).resolve().parents[3]
# as conftest.keep_freed_memory does in-process: glibc keeps freed gradient buffers instead of page-faulting them back
GLIBC_KEEP_FREED_MEMORY = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_give_the_weights_of_one(tiny_root, tmp_path, realnet_home):
    options = ["train", "--subject", "1", "--beta", "10", "--epochs", "1", "--batch-size", "6", "--lr", "1e-4",
               "--image-size", "32", "--val-fraction", "0.25", "--data-dir", str(tiny_root), "--teacher", "random",
               "--batch-norm", "frozen", "--dtype", "float64", "--device", "cpu", "--no-progress"]
    ddp_home = tmp_path / "ddp-home"
    env = {**os.environ, **GLIBC_KEEP_FREED_MEMORY, "REALNET_HOME": str(ddp_home), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "realnet_plugin", *options]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("registered realnet_s01_b10") == 1  # only rank 0 writes and registers

    assert main(options) == 0
    one = torch.load(realnet_home / "models" / "realnet_s01_b10" / "model.pt", weights_only=True)
    two = torch.load(ddp_home / "models" / "realnet_s01_b10" / "model.pt", weights_only=True)
    assert one.keys() == two.keys()
    worst = max(float((one[key].double() - two[key].double()).abs().max()) for key in one)
    start = build_teacher("random", seed=0)[0].state_dict()
    moved = max(float((one[f"realnet.{key}"] - value).abs().max()) for key, value in start.items()
                if value.is_floating_point())
    assert worst < 1e-9 and moved > 1e-4, (worst, moved)
    logs = [[json.loads(line) for line in (home / "runs" / "realnet_s01_b10" / "log.jsonl").read_text().splitlines()]
            for home in (realnet_home, ddp_home)]
    assert len(logs[0]) == len(logs[1]) == 1
    for single, double in zip(*logs):
        for key in ("train_task", "train_generation", "val_total"):
            assert abs(single[key] - double[key]) < 1e-9 * abs(single[key]), (key, single[key], double[key])
