"""Teacher pseudo-labels: argmax of a frozen teacher (pretrained CORnet-S in the paper), computed once per image.

Labels are computed before training with the teacher in eval mode under ``torch.no_grad`` and cached on disk in
the checksummed array cache (:mod:`model_registry.storage.array_cache`, ``$REALNET_HOME/cache/teacher_labels``): written
atomically, verified on read, a damaged entry logged, removed and recomputed. The key holds the teacher's weights
(every parameter and buffer) and class, the preprocessing, the bytes of every image in order, the code version
(:data:`TEACHER_LABELS_VERSION`) and the backend (device type and ``amp``: half-precision logits can change an
argmax), so a different teacher, image size, image content or backend never reuses labels, and the 40 runs of
``train-all`` compute them once. Batch size and process count are left out: they change neither the images nor
the arithmetic of one image's logits beyond float reassociation. The training loop itself never runs the teacher.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from model_registry.preprocessing import Preprocessing
from model_registry.storage.array_cache import ArrayCache, array_cache_key, file_digest
from model_registry.storage.fingerprint import weights_hash

from .data import ImageSplit, ImageTargetDataset
from .distributed import SINGLE_PROCESS, DistributedContext, all_gather_labels, all_reduce_sum, shard_sizes

TEACHER_LABELS_VERSION = 1  # bump when the label computation's numerics change
_CACHE_KIND = "teacher_labels"


def labels_key_parts(teacher: nn.Module, split: ImageSplit, preprocessing: Preprocessing, *,
                     device: torch.device | str = "cpu", amp: bool = False) -> dict:
    """Cache-key parts of the labels of ``split``: the teacher's weights hash and class, the preprocessing, the
    content hash of every image file in order, the code version and the backend (device type, ``amp``)."""
    return {"code_version": TEACHER_LABELS_VERSION, "teacher": weights_hash(teacher),
            "network": type(teacher).__qualname__, "preprocessing": preprocessing.descriptor(),
            "images": [file_digest(path) for path in split.paths],
            "backend": {"device": torch.device(device).type, "amp": bool(amp)}}


def labels_key(teacher: nn.Module, split: ImageSplit, preprocessing: Preprocessing, *,
               device: torch.device | str = "cpu", amp: bool = False) -> str:
    """Cache key (sha256 hex) of the labels of ``split``; see :func:`labels_key_parts`."""
    return array_cache_key(labels_key_parts(teacher, split, preprocessing, device=device, amp=amp))


def _labels_check(split: ImageSplit):
    def check(arrays: dict[str, np.ndarray]) -> None:
        labels, ids = arrays["labels"], arrays["stimulus_ids"]
        if labels.shape != (len(split),) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels are {labels.dtype} {labels.shape}, expected integers ({len(split)},)")
        if tuple(ids.tolist()) != split.stimulus_ids:
            raise ValueError("its stimulus ids differ from the split's")
        if len(labels) and labels.min() < 0:
            raise ValueError(f"a label is negative ({labels.min()})")
    return check


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
    store, key = ArrayCache(_CACHE_KIND), None
    if cache:
        key = array_cache_key(labels_key_parts(teacher, split, preprocessing, device=device, amp=amp))
    cached = store.load(key, _labels_check(split)) if cache else None
    hit = all_reduce_sum(torch.tensor([0 if cached is None else 1]), context)
    if cached is not None and int(hit) == context.world_size:
        return cached["labels"].astype(np.int64)
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
        store.store(key, {"labels": labels, "stimulus_ids": np.array(split.stimulus_ids, dtype=str)})
    return labels


TEACHER_KINDS = ("pretrained", "random")


def build_teacher(kind: str = "pretrained", seed: int = 0, backbone: str = "cornet_s") -> tuple[nn.Module, str]:
    """The teacher network (also the student's starting point) and a description of it.

    ``backbone``: ``'cornet_s'`` (the paper) or any registry id (``torchvision:resnet18``, ``resnet101``, ...).
    ``'pretrained'``: its published weights (downloaded once; for CORnet-S the paper's ImageNet teacher).
    ``'random'``: randomly initialised from ``seed`` (offline dry runs and tests; not the paper).
    Raises ``ValueError`` for another ``kind``, ``UnknownModelError`` for an unknown backbone id.
    """
    if kind not in TEACHER_KINDS:
        raise ValueError(f"teacher must be one of {list(TEACHER_KINDS)}, got {kind!r}")
    if backbone != "cornet_s":
        from model_registry.registry import get_spec

        spec = get_spec(backbone)
        if kind == "pretrained":
            return spec.build(pretrained=True), f"{backbone}, published weights ({spec.weights_url or 'registry'})"
        generator_state = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            network = spec.build(pretrained=False)
        finally:
            torch.set_rng_state(generator_state)
        return network, f"{backbone}, random initialisation (seed {seed})"
    from model_registry.cornet import CORNET_S_URL, cornet_s, cornet_s_network

    if kind == "pretrained":
        return cornet_s(pretrained=True), f"cornet_s, ImageNet weights {CORNET_S_URL}"
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        network = cornet_s_network()
    finally:
        torch.set_rng_state(generator_state)
    return network, f"cornet_s, random initialisation (seed {seed})"


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
