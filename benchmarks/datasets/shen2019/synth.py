"""Synthetic Shen-2019 test-set files (bdpy BData HDF5 + ``images/test/``) with planted structure, for tests.

Each ``sub-0X_perceptionNaturalImageTest_original_VC.h5`` holds, like the release: voxel columns (metadata
``VoxelData``, ``voxel_x/y/z``, ROI keys ``ROI_V1``, ``ROI_V2``, ``ROI_V3``, ``ROI_V4``, ``ROI_LOC``, ``ROI_FFA``,
``ROI_PPA``, ``ROI_LVC`` = V1+V2+V3, ``ROI_HVC`` = LOC+FFA+PPA+rest, ``ROI_VC`` = all, with 1 inside and 0
outside on voxel columns, NaN on label columns) and label columns ``Run``, ``Block``, ``DataType`` (2),
``stimulus_id`` (float synset.image code), ``stimulus_name`` (index with a vmap to the file name) and
``image_index``. Every run shows each test image once, in a subject- and run-specific order.

Planted structure: image latent features (category one-hot, brightness, stripe frequency) set the pixels and,
through a subject- and ROI-specific random linear map, the noise-free voxel responses; samples add noise.
``expected`` holds the exact repetition means of the written values.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_registry.storage.atomic import atomic_path

from ..fmri_common import write_feature_image
from .bdata import write_bdata
from .data import DEFAULT_ROIS, FILE_PATTERN

SYNSETS = (1443537, 1518878, 1639765, 2085620, 2690373, 3063599, 3452741, 4254680)
ROI_VOXELS: Mapping[str, int] = {"ROI_V1": 8, "ROI_V2": 7, "ROI_V3": 6, "ROI_V4": 5, "ROI_LOC": 4, "ROI_FFA": 4,
                                 "ROI_PPA": 3}
N_OTHER_HVC_VOXELS = 3  # HVC voxels outside LOC/FFA/PPA
DATA_TYPE_TEST = 2.0


@dataclass(frozen=True)
class SyntheticShen2019:
    """What :func:`write_synthetic_shen2019` wrote. ``expected[subject][roi]``: (n_images, n_voxels) exact means
    (rows follow ``stimulus_ids``, ROIs as in ``data.DEFAULT_ROIS``); ``true_patterns`` noise-free;
    ``stimulus_codes`` the float ``stimulus_id`` of each image; ``latent`` (n_images, n_features)."""

    root: Path
    subjects: tuple[str, ...]
    stimulus_ids: tuple[str, ...]
    stimulus_codes: tuple[float, ...]
    image_paths: tuple[Path, ...]
    expected: Mapping[str, Mapping[str, np.ndarray]]
    true_patterns: Mapping[str, Mapping[str, np.ndarray]]
    latent: np.ndarray
    roi_columns: Mapping[str, tuple[int, ...]]


def write_synthetic_shen2019(root: str | os.PathLike, *, n_subjects: int = 3, n_images: int = 10,
                             n_repetitions: int = 3, n_categories: int = 3, image_size: int = 32,
                             noise: float = 0.5, seed: int = 0) -> SyntheticShen2019:
    """Write ``n_subjects`` BData files and ``n_images`` JPEGs into ``root`` and return what was written."""
    if n_images < 3:  # an RDM of n images has n(n-1)/2 pairs; RSA needs >= 3 pairs
        raise ValueError(f"n_images must be >= 3 (RSA compares RDMs of >= 3 image pairs), got {n_images}")
    for name, value in (("n_subjects", n_subjects), ("n_repetitions", n_repetitions)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    codes = [float(f"{SYNSETS[i % len(SYNSETS)]}.{1000 + 37 * i:06d}") for i in range(n_images)]
    order = np.argsort([_name(code) for code in codes])
    codes = [codes[i] for i in order]  # the loader's row order: sorted names
    names = [_name(code) for code in codes]

    categories = rng.integers(0, n_categories, size=n_images)
    latent = np.hstack([np.eye(n_categories)[categories], rng.uniform(0.3, 1.0, (n_images, 1)),
                        rng.uniform(1.0, 4.0, (n_images, 1))])  # (n_images, n_categories + 2)
    images_dir = root / "images" / "test"
    image_paths = tuple(write_feature_image(images_dir / f"{name}.JPEG", row, image_size)
                        for name, row in zip(names, latent))

    roi_columns = _roi_columns()
    n_voxels = sum(ROI_VOXELS.values()) + N_OTHER_HVC_VOXELS
    roi_rows = {roi: [column for key in keys[:1] for column in roi_columns[key]] for roi, keys in DEFAULT_ROIS.items()}

    expected, true_patterns = {}, {}
    for s in range(1, n_subjects + 1):
        subject = f"{s:02d}"
        true = latent @ rng.normal(size=(latent.shape[1], n_voxels))  # (n_images, n_voxels)
        shown = np.concatenate([rng.permutation(n_images) for _ in range(n_repetitions)])  # (n_samples,)
        voxels = true[shown] + noise * rng.normal(size=(len(shown), n_voxels))  # (n_samples, n_voxels)
        labels = _label_columns(shown, codes, n_images, n_repetitions)
        dataset = np.hstack([voxels, labels])
        keys, descriptions, values = _metadata(rng, n_voxels, roi_columns)
        vmap = {"stimulus_name": {float(i + 1): name for i, name in enumerate(names)}}
        with atomic_path(root / FILE_PATTERN.format(subject=subject), suffix=".h5") as tmp:
            write_bdata(tmp, dataset, keys, descriptions, values, vmap)
        means = np.stack([voxels[shown == i].mean(axis=0) for i in range(n_images)])  # (n_images, n_voxels)
        expected[f"sub-{subject}"] = {roi: means[:, rows] for roi, rows in roi_rows.items()}
        true_patterns[f"sub-{subject}"] = {roi: true[:, rows] for roi, rows in roi_rows.items()}
    return SyntheticShen2019(root=root, subjects=tuple(f"{s:02d}" for s in range(1, n_subjects + 1)),
                             stimulus_ids=tuple(names), stimulus_codes=tuple(codes), image_paths=image_paths,
                             expected=expected, true_patterns=true_patterns, latent=latent,
                             roi_columns={key: tuple(columns) for key, columns in roi_columns.items()})


def _name(code: float) -> str:
    synset = int(code)
    return f"n{synset:08d}_{int(round((code - synset) * 1e6))}"


def _roi_columns() -> dict[str, list[int]]:
    """Voxel column indices of every ROI key (ROI_HVC, ROI_LVC and ROI_VC as unions)."""
    columns, start = {}, 0
    for key, count in ROI_VOXELS.items():
        columns[key] = list(range(start, start + count))
        start += count
    other_hvc = list(range(start, start + N_OTHER_HVC_VOXELS))
    columns["ROI_LVC"] = columns["ROI_V1"] + columns["ROI_V2"] + columns["ROI_V3"]
    columns["ROI_HVC"] = columns["ROI_LOC"] + columns["ROI_FFA"] + columns["ROI_PPA"] + other_hvc
    columns["ROI_VC"] = list(range(start + N_OTHER_HVC_VOXELS))
    return columns


LABEL_KEYS = ("Run", "Block", "DataType", "stimulus_id", "stimulus_name", "image_index")


def _label_columns(shown: np.ndarray, codes: list[float], n_images: int, n_repetitions: int) -> np.ndarray:
    """(n_samples, 6) per-sample labels in LABEL_KEYS order."""
    run = np.repeat(np.arange(1, n_repetitions + 1), n_images)
    block = np.tile(np.arange(1, n_images + 1), n_repetitions)
    return np.column_stack([run, block, np.full(len(shown), DATA_TYPE_TEST), np.asarray(codes)[shown],
                            shown + 1.0, shown + 1.0]).astype(np.float64)


def _metadata(rng: np.random.Generator, n_voxels: int, roi_columns: Mapping[str, list[int]]):
    """Keys, descriptions and (n_keys, n_voxels + 6) values as bdpy's add / add_metadata(where='VoxelData') write."""
    n_columns = n_voxels + len(LABEL_KEYS)
    keys, descriptions, rows = [], [], []

    def add(key: str, description: str, voxel_values=None, label_column: int | None = None) -> None:
        row = np.full(n_columns, np.nan)
        if voxel_values is not None:
            row[:n_voxels] = voxel_values
        if label_column is not None:
            row[n_voxels + label_column] = 1.0
        keys.append(key)
        descriptions.append(description)
        rows.append(row)

    add("VoxelData", "1 = VoxelData", np.ones(n_voxels))
    for axis in "xyz":
        add(f"voxel_{axis}", f"Voxel {axis} coordinate", rng.uniform(-60, 60, n_voxels))
    for key in ("ROI_V1", "ROI_V2", "ROI_V3", "ROI_V4", "ROI_LOC", "ROI_FFA", "ROI_PPA", "ROI_LVC", "ROI_HVC",
                "ROI_VC"):
        member = np.zeros(n_voxels)
        member[roi_columns[key]] = 1.0
        add(key, f"1 = ROI {key[4:]}", member)
    for index, key in enumerate(LABEL_KEYS):
        add(key, f"1 = {key}", label_column=index)
    return keys, descriptions, np.vstack(rows)
