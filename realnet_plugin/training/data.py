"""Training data for ReAlnet: brain targets per image (THINGS-EEG2 EEG, or any ``(n_images, n_output)`` array) and
the image dataset, held-out split and per-epoch batch plan.

EEG targets (the paper's protocol, REFERENCE.md section 2): repetition-averaged EEG of the training split, a window
of 17 channels x 20 time points (0.00 ... 0.19 s of the 100 Hz epoch), flattened **channel-major**
(``target[c * n_times + t]`` = channel ``c`` at the ``t``-th time of the window), then z-scored with ONE scalar
mean and std per subject. The scalars are computed over that subject's training targets (repetition-averaged,
windowed: the numbers the network is trained to produce) and the same scalars are applied to the test targets.

An fMRI variant (ReAlnet-fMRI, ``n_output = 1024``) needs nothing more than a :class:`BrainTargets` built from its
own responses: the trainer only reads ``targets.shape[1]``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from benchmarks.datasets.things_eeg2.data import CHANNEL_NAMES, TIMES_ATOL, EEGSubject, load_subject
from model_registry.preprocessing import Preprocessing

SPLIT_BY = ("concept", "image")


# --------------------------------------------------------------------------------------------------------------
# EEG targets


@dataclass(frozen=True)
class EEGWindow:
    """Which EEG enters the targets: ``channels`` (names, in this order) x ``n_times`` samples from ``t_start`` s.

    Default: all 17 channels, 20 samples from 0.00 s (0.00 ... 0.19 s at 100 Hz) -> ``n_output`` = 340.
    """

    channels: tuple[str, ...] = CHANNEL_NAMES
    t_start: float = 0.0
    n_times: int = 20

    def __post_init__(self):
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels must be distinct, non-empty channel names, got {list(self.channels)}")
        if isinstance(self.n_times, bool) or not isinstance(self.n_times, int) or self.n_times < 1:
            raise ValueError(f"n_times must be a positive integer, got {self.n_times!r}")

    @property
    def n_output(self) -> int:
        """Length of one flattened target: channels x time points."""
        return len(self.channels) * self.n_times

    def select(self, data: np.ndarray, ch_names: Sequence[str], times: np.ndarray) -> np.ndarray:
        """Repetition-average and window ``data`` (n_images, n_repetitions, n_channels, n_times_all) ->
        (n_images, n_output) float64, channel-major."""
        unknown = [name for name in self.channels if name not in ch_names]
        if unknown:
            raise ValueError(f"EEG channels {unknown} are not in the recording's channels {list(ch_names)}")
        times = np.asarray(times, dtype=np.float64)
        start = int(np.argmin(np.abs(times - self.t_start)))
        if abs(times[start] - self.t_start) > TIMES_ATOL:
            raise ValueError(f"t_start={self.t_start} s is not a sample time of the epoch "
                             f"({times[0]:.2f} ... {times[-1]:.2f} s, step {times[1] - times[0]:.2f} s)")
        if start + self.n_times > len(times):
            raise ValueError(f"the window {self.t_start} s + {self.n_times} samples runs past the epoch's last "
                             f"sample {times[-1]:.2f} s")
        channel_index = [list(ch_names).index(name) for name in self.channels]
        averaged = data.mean(axis=1, dtype=np.float64)  # (N, C_all, T_all); float32 files are averaged in float64
        window = averaged[:, channel_index, start:start + self.n_times]  # (N, C, T)
        return window.reshape(len(window), -1)

    def to_dict(self) -> dict:
        return {"channels": list(self.channels), "t_start": self.t_start, "n_times": self.n_times}


@dataclass(frozen=True)
class ZScore:
    """One scalar ``mean`` and ``std`` applied to every value: ``(x - mean) / std``."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> ZScore:
        """Mean and standard deviation over all of ``values``; a constant array is an error."""
        mean, std = float(np.mean(values)), float(np.std(values))
        if not np.isfinite(std) or std <= 0:
            raise ValueError(f"cannot z-score targets with standard deviation {std}: they are constant or not finite")
        return cls(mean, std)

    def apply(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


@dataclass(frozen=True)
class ImageSplit:
    """Images of one split with their brain targets: ``targets`` (n_images, n_output) float32, row i <-> path i."""

    paths: tuple[Path, ...]
    targets: np.ndarray
    concepts: tuple[str, ...]
    stimulus_ids: tuple[str, ...]

    def __post_init__(self):
        n = len(self.paths)
        if self.targets.ndim != 2 or self.targets.shape[0] != n:
            raise ValueError(f"targets must have shape (n_images={n}, n_output), got {self.targets.shape}")
        if len(self.concepts) != n or len(self.stimulus_ids) != n:
            raise ValueError(f"{n} images but {len(self.concepts)} concepts and {len(self.stimulus_ids)} ids")
        if not np.isfinite(self.targets).all():
            raise ValueError("targets hold NaN or infinite values")

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class BrainTargets:
    """Everything a ReAlnet run trains on: training and test images with z-scored targets of one subject."""

    subject: int
    training: ImageSplit
    test: ImageSplit
    zscore: ZScore
    source: str
    description: dict = field(default_factory=dict)
    # fMRI: the PCA fitted on the training images ({'mean': (n_voxels,), 'components': (dim, n_voxels)}), saved
    # with the model; None for EEG targets
    target_transform: dict | None = None

    def __post_init__(self):
        if self.training.targets.shape[1] != self.test.targets.shape[1]:
            raise ValueError(f"training targets have {self.training.targets.shape[1]} values per image, test "
                             f"targets {self.test.targets.shape[1]}")

    @property
    def n_output(self) -> int:
        return int(self.training.targets.shape[1])


def _split_targets(eeg: EEGSubject, window: EEGWindow, zscore: ZScore | None) -> tuple[ImageSplit, ZScore]:
    raw = window.select(eeg.data, eeg.ch_names, eeg.times)  # (N, n_output) float64
    zscore = zscore or ZScore.fit(raw)
    split = ImageSplit(paths=tuple(eeg.image_paths), targets=zscore.apply(raw).astype(np.float32),
                       concepts=tuple(eeg.concepts), stimulus_ids=eeg.stimulus_ids)
    return split, zscore


def load_eeg_targets(subject: int, root: str | os.PathLike | None = None,
                     window: EEGWindow = EEGWindow()) -> BrainTargets:
    """THINGS-EEG2 targets of ``subject`` (1 = sub-01): z-scored with the training split's scalar mean/std.

    ``root`` defaults to ``$REALNET_DATA_DIR/things-eeg2``. Missing files raise the loader's clear errors.
    """
    training_eeg = load_subject(subject, "training", root)
    training, zscore = _split_targets(training_eeg, window, None)
    del training_eeg  # the release's training file is 0.9 GB
    test_eeg = load_subject(subject, "test", root)
    test, _ = _split_targets(test_eeg, window, zscore)
    return BrainTargets(subject=subject, training=training, test=test, zscore=zscore,
                        source=str(test_eeg.source.parents[2]),
                        description={"kind": "things-eeg2", "window": window.to_dict(),
                                     "flatten": "channel-major: index = channel * n_times + time"})


# --------------------------------------------------------------------------------------------------------------
# images


class ImageTargetDataset(Dataset):
    """``dataset[k]`` -> ``(k, image (3, S, S) float32, target (n_output,) float32)`` for the images of a split.

    ``k`` is the image's index in the split, used to look up its cached teacher label.
    """

    def __init__(self, split: ImageSplit, preprocessing: Preprocessing):
        self.split = split
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        path = self.split.paths[index]
        try:
            with Image.open(path) as image:
                pixels = self.preprocessing(image)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read training image {path}: {error}") from error
        return index, pixels, torch.from_numpy(self.split.targets[index])


# --------------------------------------------------------------------------------------------------------------
# held-out split and batch plan


def holdout_split(concepts: Sequence[str], fraction: float, by: str = "concept",
                  seed: int = 2023) -> tuple[np.ndarray, np.ndarray]:
    """Split image indices into (train, held-out), both sorted, holding out ``fraction`` of the images.

    ``by='concept'`` holds out whole concepts (round(fraction x n_concepts), at least one when ``fraction > 0``),
    so held-out images show unseen concepts like the THINGS-EEG2 test set; ``by='image'`` holds out
    round(fraction x n_images) images. The choice is drawn with ``numpy.random.default_rng([seed, 7])``.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val fraction must lie in [0, 1), got {fraction}")
    if by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {list(SPLIT_BY)}, got {by!r}")
    n = len(concepts)
    everything = np.arange(n)
    if fraction == 0:
        return everything, everything[:0]
    rng = np.random.default_rng([seed, 7])
    if by == "image":
        n_held = max(1, round(fraction * n))
        held = np.sort(rng.choice(n, size=n_held, replace=False))
    else:
        names = sorted(set(concepts))
        n_held = max(1, round(fraction * len(names)))
        chosen = {names[i] for i in rng.choice(len(names), size=n_held, replace=False)}
        held = np.array([i for i, concept in enumerate(concepts) if concept in chosen], dtype=np.int64)
    if len(held) >= n:
        raise ValueError(f"holding out {fraction} by {by} leaves no training images ({n} images, "
                         f"{len(set(concepts))} concepts)")
    return np.setdiff1d(everything, held), held


def epoch_batches(indices: np.ndarray, batch_size: int, seed: int, epoch: int,
                  min_last: int = 2) -> list[np.ndarray]:
    """The global batches of epoch ``epoch`` (0-based): ``indices`` shuffled by ``default_rng([seed, 5, epoch])``,
    cut into batches of ``batch_size``; a last batch with fewer than ``min_last`` images is dropped (BatchNorm
    in training mode cannot normalise one image whose IT map is 1 x 1, and every process needs a share).

    The order depends only on (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.random.default_rng([seed, 5, epoch]).permutation(np.asarray(indices))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if batches and len(batches[-1]) < min_last:
        batches.pop()
    return batches


def split_pixels(split: ImageSplit, preprocessing: Preprocessing) -> torch.Tensor:
    """All images of ``split`` preprocessed: ``(n_images, 3, S, S)``."""
    dataset = ImageTargetDataset(split, preprocessing)
    return torch.stack([dataset[i][1] for i in range(len(dataset))])
