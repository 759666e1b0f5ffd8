"""Shared pieces of the fMRI dataset loaders (Kriegeskorte 2008, THINGS-fMRI, Shen 2019).

- Loaders raise :class:`~benchmarks.datasets.errors.DatasetFormatError` / ``DatasetNotFoundError``
  (:mod:`benchmarks.datasets.errors`), with messages that name the file and what was expected.
- :class:`RoiPatterns`: the validated result of a pattern dataset: per subject and ROI an
  ``(n_images, n_voxels)`` matrix of repetition-averaged responses, the stimulus ids in row order and the
  image of each row, plus ``stimuli()`` / ``stimulus_set()`` for models and Brain-Score.
- :func:`repetition_averager` / :func:`average_repetitions` and small validators (NaN policy, equal repetition
  counts, same stimuli in every subject, image files present), used by the loaders instead of copies.
- :func:`write_png_stimuli`: images held in memory become PNG files in ``cache_dir('stimuli')/<dataset>/``,
  written atomically and named by stimulus id, so a ``StimulusSet`` can point at them.
- :func:`write_feature_image`: the planted-structure image the synthetic-data generators share.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from model_registry.stimuli import Stimuli
from model_registry.storage.atomic import atomic_path
from model_registry.storage.paths import cache_dir, data_dir

from .errors import DatasetFormatError, DatasetNotFoundError

MAX_LISTED = 5  # how many offending items an error message lists
NanPolicy = Literal["raise", "drop_voxels"]


def listed(items: Sequence, limit: int = MAX_LISTED) -> str:
    """``'a, b, c ... (12 in all)'``: a short, readable listing of offending items for error messages."""
    items = [str(item) for item in items]
    head = ", ".join(items[:limit])
    return head if len(items) <= limit else f"{head} ... ({len(items)} in all)"


def resolve_root(dataset: str, root: str | os.PathLike | None, layout_hint: str) -> Path:
    """The dataset folder: ``root`` if given, else ``model_registry.storage.paths.data_dir(dataset)``; it must exist."""
    path = Path(root).expanduser() if root is not None else data_dir(dataset)
    if not path.is_dir():
        how = "" if root is not None else " (set REALNET_DATA_DIR or pass root=...)"
        raise DatasetNotFoundError(f"{dataset} data folder not found: {path}{how}. Expected {layout_hint}.")
    return path


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file; raise :class:`DatasetNotFoundError` naming ``what`` it should hold."""
    if not path.is_file():
        raise DatasetNotFoundError(f"missing {what}: {path}")
    return path


def repetition_averager(labels: Sequence[str], order: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The matrix that averages trials per stimulus: ``means = averager @ trials``.

    ``labels``: (n_trials,) stimulus id of each trial; ``order``: the stimulus ids of the output rows (each must
    occur in ``labels``, and every label in ``order``). Returns ``averager`` (len(order), n_trials) float64 with
    1/count at the trials of each row, and ``counts`` (len(order),) int, the trials averaged per row.
    """
    row_of = {stimulus: row for row, stimulus in enumerate(order)}
    unknown = sorted({str(label) for label in labels if label not in row_of})
    if unknown:
        raise ValueError(f"trials of stimuli outside the requested order: {listed(unknown)}")
    rows = np.fromiter((row_of[label] for label in labels), dtype=np.int64, count=len(labels))
    counts = np.bincount(rows, minlength=len(order))
    if (counts == 0).any():
        raise ValueError(f"no trials for stimuli {listed([order[i] for i in np.flatnonzero(counts == 0)])}")
    averager = np.zeros((len(order), len(labels)), dtype=np.float64)
    averager[rows, np.arange(len(labels))] = 1.0 / counts[rows]
    return averager, counts


def average_repetitions(trials: np.ndarray, labels: Sequence[str], order: Sequence[str]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Average the trials of each stimulus: ``trials`` (n_trials, n_features), ``labels`` (n_trials,) ->
    ``means`` (len(order), n_features) float64 in ``order`` and ``counts`` (len(order),) trials per row."""
    if trials.shape[0] != len(labels):
        raise ValueError(f"{trials.shape[0]} trials but {len(labels)} labels")
    averager, counts = repetition_averager(labels, order)
    return averager @ trials.astype(np.float64, copy=False), counts


def apply_nan_policy(pattern: np.ndarray, nan_policy: NanPolicy, what: str) -> np.ndarray:
    """``pattern`` (n_images, n_voxels) unchanged if finite; else raise (``'raise'``) or drop the voxels holding
    NaN/inf (``'drop_voxels'``; raises if none would remain). ``what`` names the source in the message."""
    if nan_policy not in ("raise", "drop_voxels"):
        raise ValueError(f"nan_policy must be 'raise' or 'drop_voxels', got {nan_policy!r}")
    bad_voxels = ~np.isfinite(pattern).all(axis=0)
    if not bad_voxels.any():
        return pattern
    if nan_policy == "raise" or bad_voxels.all():
        hint = "; pass nan_policy='drop_voxels' to drop them" if nan_policy == "raise" else ""
        raise DatasetFormatError(f"{what}: {int(bad_voxels.sum())} of {pattern.shape[1]} voxels have NaN or "
                                 f"infinite responses{hint}")
    return pattern[:, ~bad_voxels]


def check_equal_repetitions(counts: np.ndarray, stimulus_ids: Sequence[str], source: str) -> None:
    """Raise :class:`DatasetFormatError` unless every stimulus has the same number of repetitions."""
    values, frequency = np.unique(counts, return_counts=True)
    if len(values) > 1:
        usual = int(values[np.argmax(frequency)])
        odd = [f"{stimulus_ids[i]} ({counts[i]})" for i in np.flatnonzero(counts != usual)]
        raise DatasetFormatError(f"{source}: test images are not repeated equally often (most have {usual} "
                                 f"repetitions; differing: {listed(odd)}); pass require_equal_repetitions=False "
                                 "to average whatever repetitions exist")


def check_same_stimuli(stimuli_by_subject: Mapping[str, Sequence[str]], what: str) -> tuple[str, ...]:
    """Return the common stimulus ids if every subject saw the same set; raise naming the differences otherwise."""
    subjects = list(stimuli_by_subject)
    reference = set(stimuli_by_subject[subjects[0]])
    for subject in subjects[1:]:
        other = set(stimuli_by_subject[subject])
        if other != reference:
            only_first = sorted(reference - other)
            only_other = sorted(other - reference)
            raise DatasetFormatError(
                f"{what}: {subject} and {subjects[0]} saw different test images (only in {subjects[0]}: "
                f"{listed(only_first) or 'none'}; only in {subject}: {listed(only_other) or 'none'})")
    return tuple(stimuli_by_subject[subjects[0]])


def check_images_exist(paths: Sequence[Path], images_dir: Path, expectation: str) -> None:
    """Raise :class:`DatasetNotFoundError` listing the missing image files (``expectation`` states the layout)."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DatasetNotFoundError(f"{len(missing)} of {len(paths)} stimulus images are missing under {images_dir} "
                                   f"(expected {expectation}): {listed(missing)}")


@dataclass(frozen=True)
class RoiPatterns:
    """Repetition-averaged fMRI response patterns of one dataset, validated.

    ``patterns[subject][roi]``: (n_images, n_voxels_of_that_roi) float64; row ``i`` belongs to
    ``stimulus_ids[i]`` whose image file is ``image_paths[i]`` (same order for every subject and ROI).
    ``n_repetitions[subject]``: (n_images,) int, trials averaged per row.
    ``stimulus_metadata``: extra per-image columns for the ``StimulusSet`` (each of length n_images).
    """

    dataset: str
    subjects: tuple[str, ...]
    rois: tuple[str, ...]
    stimulus_ids: tuple[str, ...]
    image_paths: tuple[Path, ...]
    patterns: Mapping[str, Mapping[str, np.ndarray]]
    n_repetitions: Mapping[str, np.ndarray]
    stimulus_metadata: Mapping[str, tuple] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.stimulus_ids)

    def pattern(self, subject: str, roi: str) -> np.ndarray:
        """(n_images, n_voxels) averaged responses of ``subject`` in ``roi``; rows follow ``stimulus_ids``."""
        if subject not in self.patterns:
            raise KeyError(f"unknown subject {subject!r}; available: {list(self.subjects)}")
        if roi not in self.patterns[subject]:
            raise KeyError(f"unknown ROI {roi!r}; available: {list(self.rois)}")
        return self.patterns[subject][roi]

    def stimuli(self) -> Stimuli:
        """The images as :class:`model_registry.stimuli.Stimuli`, in pattern row order."""
        return Stimuli(self.stimulus_ids, self.image_paths)

    def stimulus_set(self):
        """A Brain-Score ``StimulusSet`` in pattern row order (see :func:`build_stimulus_set`)."""
        return build_stimulus_set(self.dataset, self.stimulus_ids, self.image_paths, self.stimulus_metadata)


def build_stimulus_set(dataset: str, stimulus_ids: Sequence[str], image_paths: Sequence[Path],
                       columns: Mapping[str, Sequence] | None = None):
    """A Brain-Score ``StimulusSet``: columns ``stimulus_id``, ``image_file`` and ``columns``;
    ``.stimulus_paths`` id -> Path; ``.identifier`` = ``<dataset>_<sha256 of ids + image bytes>[:12]`` so a
    different image set never shares an identifier (Brain-Score caches by identifier)."""
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    stimulus_ids = [str(identifier) for identifier in stimulus_ids]
    paths = [Path(path) for path in image_paths]
    table = {"stimulus_id": stimulus_ids, "image_file": [path.name for path in paths]}
    for name, values in (columns or {}).items():
        if len(values) != len(stimulus_ids):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(stimulus_ids)} stimuli")
        table[name] = list(values)
    frame = StimulusSet(table)
    frame.stimulus_paths = dict(zip(stimulus_ids, paths))
    digest = Stimuli(tuple(stimulus_ids), tuple(paths)).content_hash()
    frame.identifier = f"{dataset.replace('-', '_')}_{digest[:12]}"
    return frame


def write_png_stimuli(images: np.ndarray, stimulus_ids: Sequence[str], dataset: str,
                      folder: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """Write in-memory images as ``<folder>/<stimulus_id>.png`` (default ``cache_dir('stimuli')/<dataset>``).

    ``images``: (n_images, H, W, 3) uint8. Each file is written atomically; an existing file is kept if it
    decodes to the same pixels and replaced otherwise. Returns the paths in ``stimulus_ids`` order.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected images of shape (n_images, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if images.shape[0] != len(stimulus_ids):
        raise ValueError(f"{images.shape[0]} images for {len(stimulus_ids)} stimulus ids")
    folder = Path(folder) if folder is not None else cache_dir("stimuli") / dataset
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, identifier in zip(images, stimulus_ids):
        path = folder / f"{identifier}.png"
        if not _png_holds(path, image):
            with atomic_path(path, suffix=".png") as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
        paths.append(path)
    return tuple(paths)


def write_feature_image(path: Path, features: np.ndarray, size: int) -> Path:
    """Synthetic-data helper: write a JPEG of horizontal stripes encoding ``features`` = (one-hot concept...,
    brightness in [0, 1], stripe frequency): colour from the concept, intensity from brightness."""
    n_concepts = len(features) - 2
    concept = int(np.argmax(features[:n_concepts]))
    hue = concept / max(1, n_concepts)
    color = np.array([np.cos(2 * np.pi * (hue + k / 3)) * 0.5 + 0.5 for k in range(3)])
    stripes = 0.5 + 0.5 * np.sin(np.linspace(0, 2 * np.pi * features[-1], size))[:, None, None]  # (size, 1, 1)
    pixels = np.broadcast_to(stripes * color * features[-2], (size, size, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=path.suffix) as tmp:
        Image.fromarray((pixels * 255).astype(np.uint8)).save(tmp, format="JPEG", quality=95)
    return path


def _png_holds(path: Path, image: np.ndarray) -> bool:
    if not path.is_file():
        return False
    try:
        with Image.open(path) as stored:
            return np.array_equal(np.asarray(stored.convert("RGB")), image)
    except (OSError, ValueError):
        return False
