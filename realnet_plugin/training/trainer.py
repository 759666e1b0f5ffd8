"""Train a ReAlnet on one subject's brain targets and register it as ``realnet_sXX_bYY``.

One training step runs the student's backbone once (logits and the V1..IT features for the EEG module come from
the same pass); the teacher's labels come from a cache computed before training (:mod:`.teacher`).

Protocol (defaults reproduce the paper, REFERENCE.md section 2): Adam (lr 2e-5, no weight decay, no scheduler),
batch 16, 30 epochs, seed 2023, every parameter trainable, the student starting from the teacher's weights.
Model selection: by default the epoch with the lowest total loss on a held-out part of the *training* images
(``val_fraction``, whole concepts by default); ``val_fraction=0`` (or ``holdout=False``) keeps the last epoch.

The authors' behaviours, each its own switch (``paper_exact=True`` sets the first four; an explicit value wins):

* ``detach_correlation``: the correlation term sends no gradient (their ``torch.tensor(list)``); default: it trains,
  as the paper describes it (:mod:`.losses`).
* ``select_on_test``: the best epoch is chosen on the test images, which are also the RSA images (the selection
  leaks into the benchmark); default: on held-out training images.
* ``holdout=False``: no held-out split, every training image trains (default: ``val_fraction`` held out).
* ``bn_passes=2``: their forward runs the backbone twice per step in train mode (once for the logits, once for the
  V1..IT features), so every BatchNorm's running statistics take two momentum-0.1 steps towards the *same* batch
  statistics (same weights, same images): ``r <- 0.9^2 r + (1 - 0.9^2) b``, an effective momentum of
  ``1 - 0.9^2 = 0.19`` instead of 0.1. We run the backbone once and reproduce this exactly by setting each
  BatchNorm's momentum to ``1 - (1 - m)^bn_passes`` for training (the registered model keeps PyTorch's 0.1;
  ``num_batches_tracked`` counts steps, not passes, which only matters for ``momentum=None``). Running statistics
  only matter in eval mode, i.e. for the scored model; ``batch_norm='frozen'`` never updates them.
* ``teacher_bn='train'`` (not part of ``paper_exact``): the teacher's labels computed in train-mode BatchNorm from
  each training batch's own statistics, as in the authors' notebook (their script's teacher is never put in eval
  mode either); default ``'eval'``: running statistics, labels computed once and cached (:mod:`.teacher`). In
  ``'train'`` mode a label depends on which images share the batch; the teacher's running statistics are not
  changed (momentum 0), and held-out / test losses label each evaluation batch the same way.

Which of the authors' two code versions the defaults follow: the later one (the public ReAlnet training script the
paper's released weights come from): Pearson correlation term, Adam lr 2e-5, 30 epochs, batch 16, seed 2023, one
model per subject trained from the pretrained CORnet-S. The older script differs (Spearman correlation term, lr
2e-6, 25 epochs, subjects chained: each subject's training continues from the previous subject's model); we follow
the later one because it is what the published ``ReAlnetXX_best_model_params.pt`` weights and the paper's methods
section describe. The older settings are reachable: ``lr=2e-6, epochs=25``; chaining by passing the previous
model's backbone as ``student_backbone``; a Spearman term is not offered (ranking has no gradient).

Files in ``out_dir``: ``checkpoint.pt`` (after every epoch, atomic; ``checkpoints/epoch_NNN.pt`` too with
``keep_checkpoints``; it also holds the selected epoch's weights under ``best_model`` while they are not the
current ones, so no separate best-model file exists: the run's only other weights file is the registered
``models/<id>/model.pt``), ``log.jsonl`` and ``log.csv`` (one row per
epoch: train/val task, generation, total). Resuming continues bit-identically on CPU: the batch order depends only
on (seed, epoch) and model, optimizer, scaler and RNG states are restored.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from model_registry.cornet import CORNET_S_LAYERS
from model_registry.device import resolve_device
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import (
    CORNET,
    MODALITIES,
    REDUCTIONS,
    ReAlnet,
    ReAlnetConfig,
    TrainedRun,
    head_name,
    model_id,
    probe_feature_sizes,
    save_trained,
)
from model_registry.storage.atomic import atomic_path
from model_registry.storage.fingerprint import weights_hash
from model_registry.storage.paths import realnet_home

from . import distributed as dist_utils
from .checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .data import SPLIT_BY, BrainTargets, ImageSplit, ImageTargetDataset, epoch_batches, holdout_split
from .distributed import DistributedContext
from .losses import realnet_loss
from .teacher import teacher_labels

BATCH_NORM_MODES = ("batch", "sync", "frozen")
TEACHER_BN_MODES = ("eval", "train")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# options that may change between a checkpoint and its resumption (they do not change the numbers)
RESUMABLE_CHANGES = ("epochs", "num_workers", "keep_checkpoints", "label_batch_size")
LOG_FIELDS = ("epoch", "train_task", "train_generation", "train_total", "selection_split", "val_task",
              "val_generation", "val_total", "best_epoch", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """One ReAlnet training run. Defaults are the paper's except the held-out model selection.

    ``batch_norm``: ``'batch'`` (batch statistics, as the paper), ``'sync'`` (SyncBatchNorm across processes,
    CUDA only) or ``'frozen'`` (running statistics; BN affine parameters still trained).
    ``dtype``: ``'float32'``, or ``'float64'`` for numerical checks (e.g. that N processes reproduce one: Adam's
    normalised step turns float32 rounding noise in near-zero gradients into +-lr updates).
    """

    subject: int = 1
    beta: float = 100.0
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-5
    seed: int = 2023
    val_fraction: float = 0.1
    split_by: str = "concept"
    image_size: int = 224
    layers: tuple[str, ...] | None = None  # None: CORNET_S_LAYERS, or the backbone's V1, V2, V4, IT layers
    paper_exact: bool = False
    amp: bool = False
    batch_norm: str = "batch"
    label_batch_size: int = 64
    num_workers: int = 0
    keep_checkpoints: bool = False
    dtype: str = "float32"
    detach_correlation: bool | None = None  # None: follow paper_exact
    select_on_test: bool | None = None
    holdout: bool | None = None
    bn_passes: int | None = None  # None: 2 with paper_exact, else 1
    teacher_bn: str = "eval"
    backbone: str = CORNET
    modality: str = "eeg"
    task_loss: bool = True
    reduce: str = "none"
    reduce_dim: int = 4096
    reduce_seed: int = 0

    def __post_init__(self):
        if self.layers is None:
            object.__setattr__(self, "layers", default_layers(self.backbone))
        object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.task_loss, bool):
            raise ValueError(f"task_loss must be true or false, got {self.task_loss!r}")
        if not self.task_loss and not self.beta > 0:
            raise ValueError("without the task loss (--no-task-loss) beta must be > 0: nothing would be trained")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {self.modality!r}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {list(REDUCTIONS)}, got {self.reduce!r}")
        if self.backbone == CORNET and self.reduce != "none":
            raise ValueError("the CORnet-S ReAlnet keeps the paper's full-size encoders: reduce must be 'none'")
        if isinstance(self.reduce_dim, bool) or not isinstance(self.reduce_dim, int) or self.reduce_dim < 1:
            raise ValueError(f"reduce_dim must be a positive integer, got {self.reduce_dim!r}")
        paper = bool(self.paper_exact)
        resolved = {"detach_correlation": paper, "select_on_test": paper, "holdout": not paper,
                    "bn_passes": 2 if paper else 1}
        for name, value in resolved.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("detach_correlation", "select_on_test", "holdout", "paper_exact"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.bn_passes, bool) or not isinstance(self.bn_passes, int) or self.bn_passes < 1:
            raise ValueError(f"bn_passes must be a positive integer (the authors' forward: 2), got {self.bn_passes!r}")
        if self.teacher_bn not in TEACHER_BN_MODES:
            raise ValueError(f"teacher_bn must be one of {list(TEACHER_BN_MODES)}, got {self.teacher_bn!r}")
        if isinstance(self.subject, bool) or not isinstance(self.subject, int) or self.subject < 1:
            raise ValueError(f"subject must be a positive integer, got {self.subject!r}")
        if not self.beta >= 0:  # also rejects NaN
            raise ValueError(f"beta must be >= 0 (0 = plain teacher distillation), got {self.beta}")
        for name in ("epochs", "batch_size", "label_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (the correlation term pairs images), got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {list(SPLIT_BY)}, got {self.split_by!r}")
        if self.batch_norm not in BATCH_NORM_MODES:
            raise ValueError(f"batch_norm must be one of {list(BATCH_NORM_MODES)}, got {self.batch_norm!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if self.amp and self.dtype != "float32":
            raise ValueError("amp (mixed precision) works from float32 weights; use dtype='float32'")
        if self.image_size % 32 or self.image_size < 32:
            raise ValueError(f"image_size must be a positive multiple of 32, got {self.image_size}")

    @property
    def selection_split(self) -> str | None:
        """Where the best epoch is chosen: ``'test'`` (select_on_test), ``'val'``, or ``None`` (last epoch)."""
        if self.select_on_test:
            return "test"
        return "val" if self.holdout_fraction > 0 else None

    @property
    def holdout_fraction(self) -> float:
        """The share of training images held out: ``val_fraction``, or 0 without a held-out split."""
        return self.val_fraction if self.holdout else 0.0

    @property
    def bn_momentum_factor(self) -> float:
        """``1 - (1 - m)^bn_passes`` for m = 0.1: the running-statistics momentum a training step applies (0.1, or
        0.19 for the authors' two passes)."""
        return effective_momentum(0.1, self.bn_passes)

    @property
    def model_id(self) -> str:
        """``realnet_sXX_bYY`` (CORnet-S), ``realnet_<backbone>_sXX_bYY``, ``realnet-fmri_...``."""
        return model_id(self.subject, self.beta, self.backbone, self.modality)

    def to_dict(self) -> dict:
        """JSON-ready form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        return cls(**{**values, "layers": tuple(values.get("layers", CORNET_S_LAYERS))})


def default_layers(backbone: str) -> tuple[str, ...]:
    """The layers whose outputs feed the generation module by default: CORnet-S's V1, V2, V4, IT, else the
    backbone's region -> layer map at V1, V2, V4, IT (regions it does not map are left out; a layer mapped twice
    is taken once). Raises ``ValueError`` when the backbone maps none of them."""
    if backbone == CORNET:
        return CORNET_S_LAYERS
    from model_registry.registry import get_spec

    regions = get_spec(backbone).region_layer_map
    layers = tuple(dict.fromkeys(regions[region] for region in ("V1", "V2", "V4", "IT") if region in regions))
    if not layers:
        raise ValueError(f"backbone {backbone} maps none of V1, V2, V4, IT to a layer; pass layers explicitly")
    return layers


def effective_momentum(momentum: float, passes: int) -> float:
    """The momentum of one update equal to ``passes`` updates of ``momentum`` towards the same batch statistics:
    ``1 - (1 - momentum)^passes`` (0.1 and 2 passes -> 0.19)."""
    return 1.0 - (1.0 - momentum) ** passes


def legacy_config(stored: dict) -> dict:
    """A checkpoint's config with the switches written before they were separate options filled in with the values
    such a run had (all following ``paper_exact``; teacher labels in eval mode)."""
    paper = bool(stored.get("paper_exact", False))
    defaults = {"detach_correlation": paper, "select_on_test": paper, "holdout": not paper, "bn_passes": 1,
                "teacher_bn": "eval", "backbone": CORNET, "modality": "eeg", "task_loss": True, "reduce": "none",
                "reduce_dim": 4096, "reduce_seed": 0}
    return {**defaults, **stored}


def apply_bn_passes(model: nn.Module, passes: int) -> None:
    """Set every BatchNorm's momentum ``m`` to ``1 - (1 - m)^passes`` (see the module docstring; ``passes=1``
    leaves them unchanged; cumulative averaging, ``momentum=None``, is left alone)."""
    if passes == 1:
        return
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is not None:
            module.momentum = effective_momentum(module.momentum, passes)


class TrainModeTeacher:
    """Labels from a frozen copy of the teacher in train-mode BatchNorm (the authors' notebook): the argmax of its
    logits for one batch of images, normalised by that batch's statistics. Its running statistics never change
    (momentum 0). Call with a ``(B, 3, S, S)`` tensor -> ``(B,)`` int64 labels on the images' device."""

    def __init__(self, teacher: nn.Module, device: torch.device, dtype: torch.dtype):
        self.network = copy.deepcopy(teacher).to(device, dtype).requires_grad_(False).train()
        for module in self.network.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = 0.0

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.network(images)
        if logits.ndim != 2:
            raise ValueError(f"the teacher must return logits (batch, classes), returned shape {tuple(logits.shape)}")
        return logits.float().argmax(dim=1)


@dataclass
class TrainResult:
    """A finished run: the selected model (CPU), its folder under ``models_root`` (``None`` if not registered)."""

    model: ReAlnet
    run_dir: Path
    registered: Path | None
    log: list[dict]
    best_epoch: int
    labels: dict[str, np.ndarray] = field(default_factory=dict)


def training_preprocessing(config: TrainConfig) -> Preprocessing:
    """The images as the paper feeds them (the whole image resized to ``image_size``, no crop), normalised with
    the backbone's own mean / std / interpolation (ImageNet's for CORnet-S; e.g. CLIP's for CLIP towers)."""
    if config.backbone == CORNET:
        return Preprocessing(image_size=config.image_size, resize="resize")
    from model_registry.registry import get_spec

    base = get_spec(config.backbone).preprocessing
    return Preprocessing(image_size=config.image_size, resize="resize", mean=tuple(base.mean), std=tuple(base.std),
                         interpolation=base.interpolation)


def default_run_dir(config: TrainConfig) -> Path:
    """``$REALNET_HOME/runs/realnet_sXX_bYY``: where checkpoints and logs of a run go by default."""
    return realnet_home() / "runs" / config.model_id


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32  # distinct per worker, derived from the loader's seeded generator
    random.seed(seed)
    np.random.seed(seed)


def targets_fingerprint(targets: BrainTargets) -> str:
    """sha256 over the subject, the images' ids and both splits' targets."""
    digest = hashlib.sha256(f"subject={targets.subject}|zscore={targets.zscore}".encode())
    for split in (targets.training, targets.test):
        digest.update("|".join(split.stimulus_ids).encode())
        digest.update(np.ascontiguousarray(split.targets, dtype=np.float32).tobytes())
    return digest.hexdigest()


def set_batch_norm_mode(model: nn.Module, mode: str) -> None:
    """Put the model in training mode; with ``mode='frozen'`` every BatchNorm stays in eval mode."""
    model.train()
    if mode == "frozen":
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _check_backbone(backbone: nn.Module, layers: tuple[str, ...]) -> None:
    names = [name for name, _ in backbone.named_children()]
    missing = [layer for layer in layers if layer not in names]
    if missing:
        raise ValueError(f"the student backbone must be CORnet-S shaped (children V1, V2, V4, IT, decoder); it has "
                         f"children {names}, missing {missing}. Pass student_backbone= when the teacher is another "
                         "network")


def build_student(config: TrainConfig, n_output: int, backbone: nn.Module,
                  targets: BrainTargets | None = None) -> ReAlnet:
    """A ReAlnet on a copy of ``backbone`` with freshly initialised EEG heads (seeded by ``config.seed``).

    CORnet-S: the paper's module on its stages. Other backbones (``config.backbone``, a registry id): the layers'
    output sizes are measured with one probe forward; ``config.reduce`` is applied before the encoders.
    ``targets`` with a ``target_transform`` (fMRI PCA): stored in the model's buffers, so it is saved with it."""
    transform = targets.target_transform if targets is not None else None
    inputs = int(np.asarray(transform["mean"]).shape[0]) if transform is not None else 0
    if config.backbone == CORNET:
        _check_backbone(backbone, config.layers)
    backbone = copy.deepcopy(backbone).cpu().requires_grad_(True)
    if config.backbone == CORNET:
        num_classes = backbone.decoder.linear.out_features if hasattr(backbone, "decoder") else 1000
        model_config = ReAlnetConfig(image_size=config.image_size, layers=config.layers, n_output=n_output,
                                     num_classes=num_classes, modality=config.modality, target_inputs=inputs)
    else:
        sizes = probe_feature_sizes(backbone, config.layers, config.image_size, config.backbone)
        model_config = ReAlnetConfig(image_size=config.image_size, layers=config.layers, n_output=n_output,
                                     backbone=config.backbone, modality=config.modality, feature_sizes=sizes,
                                     reduce=config.reduce, reduce_dim=config.reduce_dim if config.reduce != "none"
                                     else 0, reduce_seed=config.reduce_seed, target_inputs=inputs)
    seed_everything(config.seed)
    model = ReAlnet(model_config, backbone=backbone)
    if transform is not None:
        with torch.no_grad():
            model.target_mean.copy_(torch.as_tensor(transform["mean"]))
            model.target_components.copy_(torch.as_tensor(transform["components"]))
            model.target_zscore.copy_(torch.tensor([targets.zscore.mean, targets.zscore.std]))
    return model.to(DTYPES[config.dtype])


@torch.no_grad()
def evaluate(model: nn.Module, split: ImageSplit,
             labels: np.ndarray | Callable[[torch.Tensor], torch.Tensor] | None,
             indices: np.ndarray, *, beta: float, preprocessing: Preprocessing, device: torch.device,
             batch_size: int = 16, amp: bool = False, num_workers: int = 0, task: bool = True) -> dict[str, float]:
    """Mean task, generation and total loss of ``model`` (eval mode) over ``split[indices]``, in fixed batches of
    ``batch_size`` (the generation loss depends on which images share a batch); each batch weighted by its size.

    ``labels``: the teacher's label per image of ``split`` (n_images,), or a function labelling one batch of
    images (:class:`TrainModeTeacher`), or ``None`` with ``task=False`` (no task loss)."""
    was_training = model.training
    model.eval()
    subset = torch.utils.data.Subset(ImageTargetDataset(split, preprocessing), [int(i) for i in indices])
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    sums, count = {"task": 0.0, "generation": 0.0}, 0
    labels_t = None if callable(labels) or labels is None else torch.as_tensor(labels)
    dtype = next(model.parameters()).dtype
    try:
        for index, images, target in loader:
            images = images.to(device, dtype)
            batch_labels = (None if not task else labels(images) if labels_t is None
                            else labels_t[index].to(device))
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                logits, pred = model(images)
            terms = realnet_loss(logits, batch_labels, pred, target.to(device, dtype), beta=beta, task=task)
            sums["task"] += float(terms.task) * len(index)
            sums["generation"] += float(terms.generation) * len(index)
            count += len(index)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("no images to evaluate")
    task, generation = sums["task"] / count, sums["generation"] / count
    return {"task": task, "generation": generation, "total": task + beta * generation}


def _write_log(out_dir: Path, records: list[dict]) -> None:
    with atomic_path(out_dir / "log.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in records))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    with atomic_path(out_dir / "log.csv") as tmp:
        tmp.write_text(buffer.getvalue())


def _load_best(out_dir: Path, checkpoint: dict) -> dict:
    """The selected weights of a checkpoint: its own weights when the best epoch is its epoch, else its
    ``best_model`` entry. Checkpoints written before that entry existed kept them in ``best_model.pt`` beside it,
    which is read then (and only then)."""
    best_epoch = checkpoint["best"]["epoch"]
    if best_epoch == checkpoint["epoch"]:
        return checkpoint["model"]
    if checkpoint.get("best_model") is not None:
        return checkpoint["best_model"]
    file = out_dir / "best_model.pt"
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read the best model {file} ({error}); it holds epoch {best_epoch}'s weights "
                              "selected on held-out data") from error
    if not isinstance(content, dict) or content.get("epoch") != best_epoch:
        raise CheckpointError(f"{file} does not hold epoch {best_epoch} (the checkpoint's best epoch)")
    return content["model"]


class Trainer:
    """Runs one :class:`TrainConfig` on :class:`BrainTargets`; see :func:`train`."""

    def __init__(self, config: TrainConfig, targets: BrainTargets, teacher: nn.Module, out_dir: Path, *,
                 student_backbone: nn.Module | None, device, context: DistributedContext, progress: bool,
                 teacher_description: str, checkpoints: bool = True):
        self.config, self.targets, self.out_dir = config, targets, Path(out_dir)
        self.context, self.progress = context, progress
        self.teacher_description = teacher_description
        self.device = resolve_device(device)
        if config.amp and self.device.type != "cuda":
            raise ValueError(f"mixed precision (amp) needs a CUDA device; this run uses {self.device}")
        if self.device.type == "cuda" and context.enabled:
            self.device = torch.device("cuda", context.local_rank)
            torch.cuda.set_device(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        if config.batch_norm == "sync" and context.enabled and self.device.type != "cuda":
            raise ValueError("batch_norm='sync' needs CUDA (torch has no SyncBatchNorm on CPU); use 'frozen' or "
                             "'batch' on CPU")
        dist_utils.check_batch_size(config.batch_size, context)  # every process needs 2 images per step
        self.preprocessing = training_preprocessing(config)
        # holdout=False (paper_exact) trains on every training image, as the authors did
        self.train_indices, self.val_indices = holdout_split(
            targets.training.concepts, config.holdout_fraction, config.split_by, config.seed)
        if len(self.train_indices) < dist_utils.min_batch(context.world_size):
            raise ValueError(f"only {len(self.train_indices)} training images remain after holding out "
                             f"{len(self.val_indices)}; ReAlnet needs at least "
                             f"{dist_utils.min_batch(context.world_size)}")
        self.student = build_student(config, targets.n_output, student_backbone if student_backbone is not None
                                     else teacher, targets)
        apply_bn_passes(self.student, config.bn_passes)  # the authors' two backbone passes per step
        if config.beta == 0:  # plain distillation: the EEG module is not trained (and DDP expects no gradient)
            for layer in config.layers:
                getattr(self.student, head_name(layer)).requires_grad_(False)
            self.student.fc.requires_grad_(False)
        self.fingerprints = {"teacher": weights_hash(teacher), "student_init": weights_hash(self.student),
                             "targets": targets_fingerprint(targets), "n_output": targets.n_output}
        self.label_teacher = (TrainModeTeacher(teacher, self.device, DTYPES[config.dtype])
                              if config.teacher_bn == "train" and config.task_loss else None)
        self.labels = (self._teacher_labels(teacher) if self.label_teacher is None and config.task_loss
                       else {})
        self.student.to(self.device)
        # fused: the same Adam update in one kernel per device (6x faster than the per-tensor loop on CPU)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=config.lr, weight_decay=0.0, fused=True)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp)
        self.model: nn.Module = self.student
        self.log: list[dict] = []
        self.best = {"epoch": 0, "score": None}
        self.start_epoch = 0
        self.checkpoints = checkpoints
        self._kept: dict | None = None  # the selected epoch's weights, in memory

    def _teacher_labels(self, teacher: nn.Module) -> dict[str, np.ndarray]:
        """Labels of the training images (and of the test images when they select the model); the teacher is
        frozen, in eval mode, and goes back to its device afterwards."""
        home = next(teacher.parameters()).device
        teacher.requires_grad_(False).eval().to(self.device)
        options = dict(batch_size=self.config.label_batch_size, amp=self.config.amp, progress=self.progress,
                       num_workers=self.config.num_workers, context=self.context)
        try:
            labels = {"training": teacher_labels(teacher, self.targets.training, self.preprocessing, self.device,
                                                 **options)}
            if self.config.selection_split == "test":
                labels["test"] = teacher_labels(teacher, self.targets.test, self.preprocessing, self.device,
                                                **options)
        finally:
            teacher.to(home)
        return labels

    def resume(self) -> None:
        path = self.out_dir / "checkpoint.pt"
        content = load_checkpoint(path)
        content["config"] = legacy_config(content["config"])  # written before the switches were separate
        check_compatible(path, content, self.config.to_dict(), self.fingerprints, may_differ=RESUMABLE_CHANGES)
        try:
            self.student.load_state_dict(content["model"])
            self.optimizer.load_state_dict(content["optimizer"])
            if content["scaler"]:
                self.scaler.load_state_dict(content["scaler"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {error}") from error
        set_rng_state(content["rng"])
        self.start_epoch, self.log, self.best = content["epoch"], list(content["log"]), dict(content["best"])
        self._kept = _load_best(self.out_dir, content)

    def _wrap(self) -> None:
        if not self.context.enabled:
            return
        if self.config.batch_norm == "sync":
            self.student = nn.SyncBatchNorm.convert_sync_batchnorm(self.student)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # without the task loss the layers after the last chosen one get no gradient
        self.model = nn.parallel.DistributedDataParallel(self.student, device_ids=device_ids,
                                                         find_unused_parameters=not self.config.task_loss)

    def _loader(self, local_batches: list[np.ndarray], epoch: int) -> DataLoader:
        dataset = ImageTargetDataset(self.targets.training, self.preprocessing)
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
        return DataLoader(dataset, batch_sampler=[batch.tolist() for batch in local_batches],
                          num_workers=self.config.num_workers, worker_init_fn=_worker_init, generator=generator,
                          pin_memory=self.device.type == "cuda")

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training images; returns the image-weighted mean task / generation / total loss."""
        config, context = self.config, self.context
        batches = epoch_batches(self.train_indices, config.batch_size, config.seed, epoch,
                                min_last=dist_utils.min_batch(context.world_size))
        local_batches = [dist_utils.shard(batch, context) for batch in batches]
        labels = (torch.as_tensor(self.labels["training"]) if self.label_teacher is None and config.task_loss
                  else None)
        dtype = DTYPES[config.dtype]
        set_batch_norm_mode(self.model, config.batch_norm)
        sums = torch.zeros(2, dtype=torch.float64)  # task x local images, generation x global images (main)
        n_images = 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not (self.progress and context.is_main))
        for batch, (index, images, target) in zip(batches, self._loader(local_batches, epoch)):
            sizes = dist_utils.shard_sizes(len(batch), context.world_size)
            images = images.to(self.device, dtype, non_blocking=True)
            batch_labels = (None if not config.task_loss else labels[index].to(self.device)
                            if self.label_teacher is None
                            else self.label_teacher(images))  # train-mode teacher: this batch's statistics
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=config.amp):
                logits, pred = self.model(images)
            terms = realnet_loss(logits, batch_labels, pred, target.to(self.device, dtype),
                                 beta=config.beta, paper_exact=config.detach_correlation,
                                 task_weight=context.world_size * len(index) / len(batch),
                                 gather=partial(dist_utils.gather_rows, sizes=sizes, context=context),
                                 task=config.task_loss)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(terms.total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            sums[0] += float(terms.task) * len(index)
            sums[1] += float(terms.generation) * len(batch) / context.world_size
            n_images += len(batch)
            bar.update()
            bar.set_postfix(task=f"{float(terms.task):.3f}", gen=f"{float(terms.generation):.3f}")
        bar.close()
        sums = dist_utils.all_reduce_sum(sums, context)
        task, generation = float(sums[0]) / n_images, float(sums[1]) / n_images
        return {"task": task, "generation": generation, "total": task + config.beta * generation}

    def _held_out(self) -> dict[str, float] | None:
        split_name = self.config.selection_split
        if split_name is None or not self.context.is_main:
            return None
        if split_name == "test":
            split, indices = self.targets.test, np.arange(len(self.targets.test))
        else:
            split, indices = self.targets.training, self.val_indices
        labels = (None if not self.config.task_loss else self.label_teacher if self.label_teacher is not None
                  else self.labels[split_name if split_name == "test" else "training"])
        return evaluate(self.student, split, labels, indices, beta=self.config.beta,
                        preprocessing=self.preprocessing, device=self.device, batch_size=self.config.batch_size,
                        amp=self.config.amp, num_workers=self.config.num_workers, task=self.config.task_loss)

    def _checkpoint(self, epoch: int) -> None:
        payload = {"epoch": epoch, "config": self.config.to_dict(), "model": self.student.state_dict(),
                   "optimizer": self.optimizer.state_dict(),
                   "scaler": self.scaler.state_dict() if self.config.amp else {}, "rng": rng_state(),
                   "log": self.log, "best": self.best, "fingerprints": self.fingerprints,
                   # the best epoch's weights only when they are not the current ones (one file, no best_model.pt)
                   "best_model": None if self.best["epoch"] == epoch else self._kept}
        save_checkpoint(self.out_dir / "checkpoint.pt", payload)
        if self.config.keep_checkpoints:
            save_checkpoint(self.out_dir / "checkpoints" / f"epoch_{epoch:03d}.pt", payload)

    def fit(self, on_epoch_end: Callable[[dict], None] | None = None) -> None:
        """Train from ``start_epoch`` to ``config.epochs``, checkpointing after every epoch."""
        self._wrap()
        for epoch in range(self.start_epoch, self.config.epochs):
            started = time.perf_counter()
            train = self.train_epoch(epoch)
            held = self._held_out()
            record = {"epoch": epoch + 1, "train_task": train["task"], "train_generation": train["generation"],
                      "train_total": train["total"], "selection_split": self.config.selection_split}
            if held is not None:
                record.update(val_task=held["task"], val_generation=held["generation"], val_total=held["total"])
            if self.context.is_main:
                improved = held is None or self.best["score"] is None or held["total"] < self.best["score"]
                if improved:
                    self.best = {"epoch": epoch + 1, "score": None if held is None else held["total"]}
                record["best_epoch"] = self.best["epoch"]
                record["seconds"] = time.perf_counter() - started
                self.log.append(record)
                if improved:  # the selected weights, in memory; the checkpoint carries them when they lag behind
                    self._kept = copy.deepcopy(self.student.state_dict())
                if self.checkpoints:
                    self._checkpoint(epoch + 1)
                _write_log(self.out_dir, self.log)
                if self.progress:
                    shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                                      if isinstance(v, float) and k != "seconds")
                    tqdm.write(f"epoch {epoch + 1}/{self.config.epochs}: {shown}")
            dist_utils.barrier(self.context)
            if on_epoch_end is not None:
                on_epoch_end(record)

    def selected_model(self) -> ReAlnet:
        """A CPU ReAlnet holding the selected epoch's weights (main process)."""
        model = ReAlnet(self.student.config, backbone=copy.deepcopy(self.student.realnet).cpu()).to(
            DTYPES[self.config.dtype])
        model.load_state_dict(self._kept)
        return model.eval()

    def run_info(self) -> dict:
        return {"train_config": self.config.to_dict(), "log": self.log, "best_epoch": self.best["epoch"],
                "selection_split": self.config.selection_split, "teacher": self.teacher_description,
                "targets": {"source": self.targets.source, "zscore": asdict(self.targets.zscore),
                            **self.targets.description},
                "n_images": {"train": len(self.train_indices), "val": len(self.val_indices),
                             "test": len(self.targets.test)},
                "fingerprints": self.fingerprints, "run_dir": str(self.out_dir)}


def train(config: TrainConfig, targets: BrainTargets, teacher: nn.Module, out_dir: str | Path | None = None, *,
          student_backbone: nn.Module | None = None, device: str | torch.device | None = None,
          resume: bool = False, register: bool = True, models_root: str | Path | None = None,
          progress: bool = True, on_epoch_end: Callable[[dict], None] | None = None,
          context: DistributedContext | None = None, teacher_description: str | None = None,
          checkpoints: bool = True) -> TrainResult:
    """Train a ReAlnet and (``register``) save it as ``realnet_sXX_bYY`` under ``models_root``
    (default ``$REALNET_HOME/models``, where ``list_models('realnet*')`` and ``load_model`` find it).
    Returns the selected model on the main process (``model`` and ``registered`` are ``None`` on the others).

    ``targets``: the subject's images and z-scored targets (``load_eeg_targets``; any ``n_output``).
    ``teacher``: frozen network giving the pseudo-labels (the paper: pretrained CORnet-S); the student starts from a
    copy of ``student_backbone`` (default: the teacher). ``out_dir``: checkpoints and logs (default
    ``$REALNET_HOME/runs/<model id>``); it must not hold a checkpoint unless ``resume``. ``on_epoch_end(record)``
    runs after each epoch's checkpoint. ``context``: distributed set-up (default: from torchrun's environment).
    ``checkpoints=False`` writes no checkpoint (only the logs) and keeps the selected epoch's
    weights in memory: for short throw-away runs (``realnet experiment``); such a run cannot be resumed.
    """
    if config.subject != targets.subject:
        raise ValueError(f"config is for subject {config.subject} but the targets are subject {targets.subject}'s")
    kind = "fmri" if targets.description.get("kind") == "things-fmri" else "eeg"
    if kind != config.modality:
        raise ValueError(f"config is for modality {config.modality!r} but the targets are {kind} "
                         f"({targets.description.get('kind', 'things-eeg2')}); use load_fmri_targets with "
                         "modality='fmri', load_eeg_targets with 'eeg'")
    out_dir = Path(out_dir) if out_dir is not None else default_run_dir(config)
    context = context if context is not None else dist_utils.from_environment()
    checkpoint_file = out_dir / "checkpoint.pt"
    if not resume and checkpoint_file.exists():
        raise FileExistsError(f"{checkpoint_file} exists: pass resume=True (--resume) to continue that run, or "
                              "choose another output folder")
    joined = context.enabled and not torch.distributed.is_initialized()
    if context.enabled and resolve_device(device).type == "cuda":
        torch.cuda.set_device(context.local_rank)  # before NCCL starts, so every process keeps to its own GPU
    dist_utils.initialize(context, resolve_device(device))
    try:
        if context.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(config, targets, teacher, out_dir, student_backbone=student_backbone, device=device,
                          context=context, progress=progress,
                          teacher_description=teacher_description or type(teacher).__name__,
                          checkpoints=checkpoints)
        if resume:
            if not checkpoints:
                raise ValueError("resume=True needs checkpoints=True "
                                 "(a run without checkpoints cannot be continued)")
            trainer.resume()
        trainer.fit(on_epoch_end)
        registered, model = None, None
        if context.is_main:
            model = trainer.selected_model()
            if register:
                run = TrainedRun(subject=config.subject, beta=config.beta, config=model.config,
                                 preprocessing=trainer.preprocessing, info=trainer.run_info())
                registered = save_trained(model, run, root=models_root)
        dist_utils.barrier(context)
        return TrainResult(model=model, run_dir=out_dir, registered=registered, log=trainer.log,
                           best_epoch=trainer.best["epoch"], labels=trainer.labels)
    finally:
        if joined:
            dist_utils.shutdown()
