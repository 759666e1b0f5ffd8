"""Synthetic THINGS-fMRI table-format data (``betas_csv/`` + ``images/``) with planted structure, for tests.

The files follow the official release exactly (see :mod:`.data`): ``sub-0X_ResponseData.h5`` is a pandas
fixed-format frame (key ``ResponseData``, columns ``voxel_id`` and trials ``0..n-1``, float block then int block,
mixed labels pickled as PyTables does), ``sub-0X_VoxelMetadata.csv`` has the release's leading columns and ROI 0/1
columns (hemisphere-split category ROIs, IT overlapping them, a few glasser parcels), ``sub-0X_StimulusMetadata.csv``
one row per trial. Each session shows every test image once plus some train images, in a subject-specific order.

Planted structure: every test image has latent features (its concept, a brightness and a stripe frequency) that
set both its pixels (coloured stripes, JPEG) and, through an ROI-specific random linear map, the noise-free voxel
pattern; trials add Gaussian noise. ``expected`` holds the exact repetition means of the written values.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_registry.storage.atomic import atomic_path

from ..fmri_common import write_feature_image
from .data import RESPONSE_KEY, subject_files
from .pandas_hdf import write_frame

CONCEPTS = ("aardvark", "candelabra", "dog", "mango", "spatula", "zebra")
# VoxelMetadata ROI columns written, and how many voxels each owns (IT is the union of the category ROIs)
ROI_VOXELS: Mapping[str, int] = {"V1": 6, "V2": 6, "V3": 5, "hV4": 5, "lLOC": 3, "rLOC": 3, "lFFA": 3, "rFFA": 3,
                                 "lPPA": 3, "rPPA": 3, "lEBA": 2, "rEBA": 2}
CATEGORY_ROI_COLUMNS = ("lLOC", "rLOC", "lFFA", "rFFA", "lPPA", "rPPA", "lEBA", "rEBA")
EXTRA_COLUMNS = ("VO1", "lOFA", "rOFA", "glasser-V1", "glasser-FFC")
N_UNASSIGNED_VOXELS = 4


@dataclass(frozen=True)
class SyntheticThingsFmri:
    """What :func:`write_synthetic_things_fmri` wrote. ``expected[subject][roi]``: (n_images, n_voxels) exact
    repetition means (rows follow ``stimulus_ids``; ROIs as in ``data.DEFAULT_ROIS``); ``true_patterns`` the
    noise-free patterns; ``latent`` (n_images, n_features) the features behind pixels and patterns."""

    root: Path
    subjects: tuple[str, ...]
    stimulus_ids: tuple[str, ...]
    concepts: tuple[str, ...]
    image_paths: tuple[Path, ...]
    expected: Mapping[str, Mapping[str, np.ndarray]]
    true_patterns: Mapping[str, Mapping[str, np.ndarray]]
    latent: np.ndarray
    n_trials: Mapping[str, int]


def write_synthetic_things_fmri(root: str | os.PathLike, *, n_subjects: int = 3, n_concepts: int = 4,
                                images_per_concept: int = 3, n_repetitions: int = 3, train_per_session: int = 4,
                                image_size: int = 32, noise: float = 0.5, value_dtype=np.float64,
                                seed: int = 0) -> SyntheticThingsFmri:
    """Write a small dataset into ``root`` (``betas_csv/`` and ``images/``) and return what was written."""
    if not 1 <= n_concepts <= len(CONCEPTS):
        raise ValueError(f"n_concepts must be 1..{len(CONCEPTS)}")
    if n_concepts * images_per_concept < 3:  # an RDM of n images has n(n-1)/2 pairs; RSA needs >= 3 pairs
        raise ValueError(f"n_concepts x images_per_concept must be >= 3 test images (RSA compares RDMs of >= 3 "
                         f"image pairs), got {n_concepts} x {images_per_concept}")
    for name, value in (("n_subjects", n_subjects), ("n_repetitions", n_repetitions)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    root = Path(root)
    (root / "betas_csv").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    concepts = CONCEPTS[:n_concepts]
    test_images = [(concept, f"{concept}_{k + 1:02d}s.jpg") for concept in concepts for k in range(images_per_concept)]
    test_images.sort(key=lambda item: Path(item[1]).stem)  # the loader's row order: sorted stems
    train_images = [(concept, f"{concept}_{k + 1:02d}b.jpg") for concept in concepts for k in range(5)]

    latent = _latent_features(rng, [concept for concept, _ in test_images], concepts)  # (n_images, n_features)
    image_paths = tuple(write_feature_image(root / "images" / concept / name, row, image_size)
                        for (concept, name), row in zip(test_images, latent))
    roi_rows = _roi_rows()
    n_voxels = max(max(rows) for rows in roi_rows.values()) + 1 + N_UNASSIGNED_VOXELS
    stimulus_ids = tuple(Path(name).stem for _, name in test_images)

    expected, true_patterns, n_trials = {}, {}, {}
    for s in range(1, n_subjects + 1):
        subject = f"{s:02d}"
        weights = rng.normal(size=(latent.shape[1], n_voxels))
        true = latent @ weights  # (n_images, n_voxels)
        trials = _trial_table(rng, s, test_images, train_images, n_repetitions, train_per_session)
        responses = np.empty((n_voxels, len(trials)), dtype=np.float64)  # (n_voxels, n_trials)
        for index, row in trials.iterrows():
            if row["trial_type"] == "test":
                responses[:, index] = true[stimulus_ids.index(Path(row["stimulus"]).stem)]
            else:
                responses[:, index] = rng.normal(size=n_voxels)
        responses += noise * rng.normal(size=responses.shape)
        responses = responses.astype(value_dtype)
        files = subject_files(root, subject)
        _write_csv(files["StimulusMetadata"], trials)
        _write_csv(files["VoxelMetadata"], _voxel_table(rng, s, n_voxels, roi_rows))
        with atomic_path(files["ResponseData"], suffix=".h5") as tmp:
            write_frame(tmp, RESPONSE_KEY, [(list(range(len(trials))), responses),
                                            (["voxel_id"], np.arange(n_voxels, dtype=np.int64)[:, None])],
                        columns=["voxel_id", *range(len(trials))])
        means = _test_means(responses, trials, stimulus_ids)  # (n_images, n_voxels)
        expected[f"sub-{subject}"] = {roi: means[:, rows] for roi, rows in _default_roi_rows(roi_rows).items()}
        true_patterns[f"sub-{subject}"] = {roi: true[:, rows] for roi, rows in _default_roi_rows(roi_rows).items()}
        n_trials[f"sub-{subject}"] = len(trials)
    return SyntheticThingsFmri(root=root, subjects=tuple(f"{s:02d}" for s in range(1, n_subjects + 1)),
                               stimulus_ids=stimulus_ids, concepts=tuple(c for c, _ in test_images),
                               image_paths=image_paths, expected=expected, true_patterns=true_patterns,
                               latent=latent, n_trials=n_trials)


def _latent_features(rng: np.random.Generator, image_concepts: list[str], concepts: tuple[str, ...]) -> np.ndarray:
    """(n_images, n_concepts + 2): one-hot concept, brightness in [0.3, 1], stripe frequency in [1, 4]."""
    one_hot = np.array([[concept == c for c in concepts] for concept in image_concepts], dtype=np.float64)
    brightness = rng.uniform(0.3, 1.0, size=(len(image_concepts), 1))
    frequency = rng.uniform(1.0, 4.0, size=(len(image_concepts), 1))
    return np.hstack([one_hot, brightness, frequency])


def _roi_rows() -> dict[str, list[int]]:
    rows, start = {}, 0
    for column, count in ROI_VOXELS.items():
        rows[column] = list(range(start, start + count))
        start += count
    rows["IT"] = [row for column in CATEGORY_ROI_COLUMNS for row in rows[column]]
    return rows


def _default_roi_rows(roi_rows: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Voxel rows of each ``data.DEFAULT_ROIS`` ROI (hemispheres joined, sorted as the loader returns them)."""
    from .data import DEFAULT_ROIS

    return {roi: sorted(row for column in columns for row in roi_rows[column]) for roi, columns in DEFAULT_ROIS.items()}


def _trial_table(rng: np.random.Generator, subject: int, test_images, train_images, n_repetitions: int,
                 train_per_session: int) -> pd.DataFrame:
    records = []
    for session in range(1, n_repetitions + 1):
        shown = [("test", image) for image in test_images]
        picks = rng.choice(len(train_images), size=train_per_session, replace=False)
        shown += [("train", train_images[i]) for i in picks]
        for position in rng.permutation(len(shown)):
            trial_type, (concept, name) = shown[position]
            records.append({"trial_type": trial_type, "session": session, "run": 1 + len(records) % 2,
                            "subject_id": subject, "trial_id": len(records), "stimulus": name, "concept": concept})
    return pd.DataFrame.from_records(records)


def _voxel_table(rng: np.random.Generator, subject: int, n_voxels: int, roi_rows: Mapping[str, list[int]]
                 ) -> pd.DataFrame:
    table = pd.DataFrame({
        "voxel_id": np.arange(n_voxels), "subject_id": subject,
        "voxel_x": rng.integers(0, 80, n_voxels), "voxel_y": rng.integers(0, 80, n_voxels),
        "voxel_z": rng.integers(0, 80, n_voxels), "nc_singletrial": rng.uniform(0, 20, n_voxels),
        "nc_testset": rng.uniform(0, 40, n_voxels), "splithalf_uncorrected": rng.uniform(-0.1, 0.5, n_voxels),
        "splithalf_corrected": rng.uniform(-0.1, 0.7, n_voxels), "prf-eccentricity": rng.uniform(0, 10, n_voxels),
        "prf-polarangle": rng.uniform(0, 360, n_voxels), "prf-rsquared": rng.uniform(0, 1, n_voxels),
        "prf-size": rng.uniform(0, 5, n_voxels)})
    for column in [*ROI_VOXELS, *EXTRA_COLUMNS[:3], "IT", *EXTRA_COLUMNS[3:]]:
        member = np.zeros(n_voxels, dtype=np.int64)
        member[roi_rows.get(column, [])] = 1
        table[column] = member
    return table


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)


def _test_means(responses: np.ndarray, trials: pd.DataFrame, stimulus_ids: tuple[str, ...]) -> np.ndarray:
    """(n_images, n_voxels) float64 mean of each test image's trials, straight from the written values."""
    means = np.zeros((len(stimulus_ids), responses.shape[0]))
    for row, stimulus in enumerate(stimulus_ids):
        columns = [i for i, name in enumerate(trials["stimulus"])
                   if trials["trial_type"][i] == "test" and Path(name).stem == stimulus]
        means[row] = responses[:, columns].astype(np.float64).mean(axis=1)
    return means
