"""torchrun with a last batch that would leave one rank a single image: dropped as the single process drops a
last batch of one, instead of BatchNorm (training mode, 1 x 1 maps at 32 px) killing both ranks."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from model_registry.cornet import cornet_s_network
from realnet_plugin.training import distributed as dist_utils
from realnet_plugin.training.data import epoch_batches

from .test_distributed import GLIBC_KEEP_FREED_MEMORY, REPO, _free_port


def test_one_image_cannot_be_normalised_at_32_px():
    """The failure the rule prevents, shown by torch itself: one 32 px image in training mode."""
    network = cornet_s_network().train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        network(torch.randn(1, 3, 32, 32))
    network(torch.randn(2, 3, 32, 32))  # two images are fine


def test_batches_and_shards_give_every_process_two_images():
    context = dist_utils.DistributedContext(rank=1, world_size=2)
    batches = epoch_batches(np.arange(12), 9, seed=0, epoch=0, min_last=dist_utils.min_batch(2))
    assert [len(b) for b in batches] == [9]  # 9 + 3: the 3 would be shared 2 + 1
    assert [len(b) for b in epoch_batches(np.arange(13), 9, 0, 0, min_last=dist_utils.min_batch(2))] == [9, 4]
    assert [len(b) for b in epoch_batches(np.arange(12), 9, 0, 0, min_last=dist_utils.min_batch(1))] == [9, 3]
    assert dist_utils.shard_sizes(9, 2) == [5, 4] and len(dist_utils.shard(np.arange(4), context)) == 2
    with pytest.raises(ValueError, match="a batch of 3 images cannot give each of 2 processes 2 images"):
        dist_utils.shard(np.arange(3), context)
    with pytest.raises(ValueError, match="batch_size 3 gives some of the 2 processes fewer than 2 images"):
        dist_utils.check_batch_size(3, context)
    dist_utils.check_batch_size(2, dist_utils.SINGLE_PROCESS)


def test_torchrun_survives_a_short_last_batch(tiny_root, tmp_path):
    # 12 training images, batch 9: before, the last batch of 3 gave rank 1 one image and BatchNorm stopped both
    options = ["train", "--subject", "1", "--beta", "10", "--epochs", "1", "--batch-size", "9", "--lr", "1e-4",
               "--image-size", "32", "--val-fraction", "0.25", "--data-dir", str(tiny_root), "--teacher", "random",
               "--device", "cpu", "--no-progress"]
    home = tmp_path / "ddp-home"
    env = {**os.environ, **GLIBC_KEEP_FREED_MEMORY, "REALNET_HOME": str(home), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "realnet_plugin", *options]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("registered realnet_s01_b10") == 1
    log = [json.loads(line) for line in (home / "runs" / "realnet_s01_b10" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["train_total"])

    too_small = [*options[:options.index("--batch-size") + 1], "3", *options[options.index("--batch-size") + 2:]]
    command[command.index("--master_port") + 1] = str(_free_port())
    command[command.index("realnet_plugin") + 1:] = too_small
    refused = subprocess.run(command, env={**env, "REALNET_HOME": str(tmp_path / "other-home")}, cwd=REPO,
                             capture_output=True, text=True, timeout=400)
    assert refused.returncode != 0
    assert "batch_size 3 gives some of the 2 processes fewer than 2 images" in refused.stderr + refused.stdout
