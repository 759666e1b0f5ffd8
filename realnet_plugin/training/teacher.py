"""Teacher pseudo-labels: argmax of a frozen teacher (pretrained CORnet-S in the paper), computed once per image.

Labels are computed before training with the teacher in eval mode under ``torch.no_grad`` and cached on disk in
``$REALNET_HOME/cache/teacher_labels/<key>.npz``. The key hashes the teacher's weights (every parameter and
buffer), the preprocessing and each image's resolved path, size and modification time, so a different teacher,
image size or image set never reuses labels, and the 40 runs of ``train-all`` compute them once.
The training loop itself never runs the teacher.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from model_registry.atomic import atomic_path
from model_registry.fingerprint import weights_hash
from model_registry.paths import cache_dir
from model_registry.preprocessing import Preprocessing

from .data import ImageSplit, ImageTargetDataset
from .distributed import SINGLE_PROCESS, DistributedContext, all_gather_labels, all_reduce_sum, shard_sizes


def labels_key(teacher: nn.Module, split: ImageSplit, preprocessing: Preprocessing) -> str:
    """Cache key: sha256 of the teacher's weights, the preprocessing and the images' (path, size, mtime)."""
    digest = hashlib.sha256()
    digest.update(weights_hash(teacher).encode())
    digest.update(preprocessing.descriptor().encode())
    for path in split.paths:
        stat = Path(path).stat()
        digest.update(json.dumps([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]).encode())
    return digest.hexdigest()


def _read_cache(file: Path, split: ImageSplit) -> np.ndarray | None:
    try:
        with np.load(file, allow_pickle=False) as content:
            labels, ids = content["labels"], content["stimulus_ids"]
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache entries are recomputed (and rewritten atomically)
    if labels.shape != (len(split),) or tuple(ids.tolist()) != split.stimulus_ids:
        return None
    return labels.astype(np.int64)


@torch.no_grad()
def _predict(teacher: nn.Module, split: ImageSplit, preprocessing: Preprocessing, indices: np.ndarray,
             device: torch.device, batch_size: int, amp: bool, progress: bool, num_workers: int) -> torch.Tensor:
    dataset = torch.utils.data.Subset(ImageTargetDataset(split, preprocessing), indices.tolist())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    labels, dtype = [], next(teacher.parameters()).dtype
    for _, images, _ in tqdm(loader, desc="teacher labels", disable=not progress, leave=False):
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = teacher(images.to(device, dtype))
        if logits.ndim != 2:
            raise ValueError(f"the teacher must return logits (batch, classes), returned shape {tuple(logits.shape)}")
        labels.append(logits.float().argmax(dim=1).cpu())
    return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.int64)


def teacher_labels(teacher: nn.Module, split: ImageSplit, preprocessing: Preprocessing, device: torch.device,
                   *, batch_size: int = 64, amp: bool = False, cache: bool = True, progress: bool = True,
                   num_workers: int = 0, context: DistributedContext = SINGLE_PROCESS) -> np.ndarray:
    """Argmax class of the frozen ``teacher`` for every image of ``split``: (n_images,) int64.

    Read from the disk cache when present; otherwise computed (each process a share of the images under
    distributed training) and cached by the main process.
    """
    file = cache_dir("teacher_labels") / f"{labels_key(teacher, split, preprocessing)}.npz"
    cached = _read_cache(file, split) if cache else None
    hit = all_reduce_sum(torch.tensor([0 if cached is None else 1]), context)
    if cached is not None and int(hit) == context.world_size:
        return cached
    was_training = teacher.training
    teacher.eval()
    try:
        sizes = shard_sizes(len(split), context.world_size)
        start = sum(sizes[:context.rank])
        mine = np.arange(start, start + sizes[context.rank])
        local = _predict(teacher, split, preprocessing, mine, device, batch_size, amp,
                         progress and context.is_main, num_workers)
    finally:
        teacher.train(was_training)
    labels = all_gather_labels(local, sizes, context).numpy().astype(np.int64)
    if cache and context.is_main:
        with atomic_path(file, suffix=".npz") as tmp:
            np.savez(tmp, labels=labels, stimulus_ids=np.array(split.stimulus_ids))
    return labels


TEACHER_KINDS = ("pretrained", "random")


def build_teacher(kind: str = "pretrained", seed: int = 0) -> tuple[nn.Module, str]:
    """The teacher network and a description of it.

    ``'pretrained'``: CORnet-S with the published ImageNet weights (downloaded once; the paper's teacher).
    ``'random'``: CORnet-S randomly initialised from ``seed`` (offline dry runs and tests; not the paper).
    """
    from model_registry.cornet import CORNET_S_URL, cornet_s, cornet_s_network

    if kind == "pretrained":
        return cornet_s(pretrained=True), f"cornet_s, ImageNet weights {CORNET_S_URL}"
    if kind == "random":
        generator_state = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            network = cornet_s_network()
        finally:
            torch.set_rng_state(generator_state)
        return network, f"cornet_s, random initialisation (seed {seed})"
    raise ValueError(f"teacher must be one of {list(TEACHER_KINDS)}, got {kind!r}")


def calibrate_batch_norm(network: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``images`` ``(N, 3, S, S)``; returns it in eval mode.

    A randomly initialised network's running statistics are 0 and 1, which makes its eval-mode features nearly
    constant; offline dry runs (``--teacher random``) calibrate on the training images first.
    """
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average over the calibration pass
    network.train()
    with torch.no_grad():
        network(images)
    for module, momentum in zip(norms, momenta):
        module.momentum = momentum
    return network.eval()
