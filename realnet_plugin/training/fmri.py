"""ReAlnet-fMRI targets: THINGS-fMRI ROI voxel betas per image, reduced by PCA fitted on the training split only.

Per subject (``sub-0X``, THINGS-fMRI's 3 subjects): the single-trial betas of the chosen ROIs' voxels (union of
their VoxelMetadata columns, e.g. V1, V2, V3, hV4, LOC = lLOC + rLOC; each voxel once) are averaged per image over
its repetitions, separately for the ``train`` trials (the training split) and the ``test`` trials (100 images x 12
repetitions in the release: the test split). A PCA is fitted on the training images' patterns ONLY (centred on the
training mean, components from the SVD, each component's sign fixed so that its largest-magnitude loading is
positive); both splits are projected on its first ``dim`` components (1024 in the authors' notebooks) and z-scored
with ONE scalar mean and std over the training projections, as the EEG targets are. The PCA (training mean,
components) travels with the targets (:attr:`BrainTargets.target_transform`) and is saved inside the trained
model's weights file (buffers ``target_mean`` / ``target_components`` / ``target_zscore``).

Files and the h5 reading are those of :mod:`benchmarks.datasets.things_fmri.data` (same layout, same checks).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import BrainTargets, ImageSplit, ZScore

FMRI_ROIS = ("V1", "V2", "V3", "hV4", "LOC")
FMRI_DIM = 1024


def fit_pca(patterns: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of ``patterns`` (n_images, n_voxels): returns the mean (n_voxels,) and the first ``dim`` components
    (dim, n_voxels), orthonormal rows, sign fixed by the largest-magnitude loading being positive.

    Raises ``ValueError`` when ``dim`` exceeds ``min(n_images - 1, n_voxels)`` (components beyond that carry no
    variance of the training data)."""
    n_images, n_voxels = patterns.shape
    limit = min(n_images - 1, n_voxels)
    if not 1 <= dim <= limit:
        raise ValueError(f"fMRI target dimension {dim} must lie in 1..{limit} (min(training images - 1 = "
                         f"{n_images - 1}, ROI voxels = {n_voxels})); pass a smaller --fmri-dim")
    mean = patterns.mean(axis=0)
    _, _, vt = np.linalg.svd(patterns - mean, full_matrices=False)
    components = vt[:dim]
    signs = np.sign(components[np.arange(dim), np.abs(components).argmax(axis=1)])
    return mean, components * signs[:, None]


def _split_means(handle, data, files: dict, trials, voxel_ids: np.ndarray, rows: np.ndarray, trial_type: str,
                 subject: str, images_root: Path) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...],
                                                            tuple[Path, ...]]:
    from benchmarks.datasets.errors import DatasetFormatError

    numbers = trials.index[trials["trial_type"] == trial_type].to_numpy()
    if len(numbers) == 0:
        raise DatasetFormatError(f"{files['StimulusMetadata']}: no trials with trial_type == {trial_type!r}")
    values, positions = data._test_columns(handle, files["ResponseData"], voxel_ids, len(trials), numbers, subject)
    names = trials.loc[numbers, "stimulus"].astype(str).to_numpy()
    ids = [Path(name).stem for name in names]
    order = sorted(set(ids))
    averager, _ = data.repetition_averager(ids, order)
    means = data._read_test_means(values, positions, averager, rows, False, subject)  # (n_images, n_voxels)
    first = {stimulus: i for i, stimulus in reversed(list(enumerate(ids)))}
    concepts = tuple(str(trials.loc[numbers[first[s]], "concept"]) for s in order)
    paths = tuple(data._image_path(images_root, concept, names[first[s]]) for s, concept in zip(order, concepts))
    bad = np.flatnonzero(~np.isfinite(means).all(axis=1))
    if len(bad):
        raise DatasetFormatError(f"{files['ResponseData']}: {trial_type} image {order[bad[0]]} has non-finite "
                                 f"ROI betas ({len(bad)} images in all)")
    return means, tuple(order), concepts, paths


def load_fmri_targets(subject: int, root: str | os.PathLike | None = None, rois: Sequence[str] = FMRI_ROIS,
                      dim: int = FMRI_DIM, images_dir: str | os.PathLike | None = None) -> BrainTargets:
    """THINGS-fMRI targets of ``subject`` (1 = sub-01) for ReAlnet-fMRI: (n_images, ``dim``) z-scored PCA scores
    of the ROIs' voxel betas per image, PCA and z-score fitted on the training images only (module docstring).

    ``root`` defaults to ``$REALNET_DATA_DIR/things-fmri``; ``images_dir`` to ``<root>/images``.
    Raises the loader's ``DatasetNotFoundError`` / ``DatasetFormatError`` (missing files or images, ROI without
    voxels, unreadable tables, non-finite betas) and ``ValueError`` for a ``dim`` the training split cannot give,
    all before any model is built.
    """
    from benchmarks.datasets import fmri_common
    from benchmarks.datasets.errors import DatasetFormatError
    from benchmarks.datasets.things_fmri import data

    if isinstance(subject, bool) or not isinstance(subject, int) or subject < 1:
        raise ValueError(f"subject must be a positive integer, got {subject!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"fMRI target dimension must be a positive integer, got {dim!r}")
    root = data.resolve_root(data.DATASET, root, data.LAYOUT)
    images_root = Path(images_dir).expanduser() if images_dir is not None else root / "images"
    sid = f"{subject:02d}"
    files = {kind: data.require_file(path, f"THINGS-fMRI {kind} of sub-{sid}")
             for kind, path in data.subject_files(root, sid).items()}
    trials = data._read_stimulus_metadata(files["StimulusMetadata"])
    voxels = data._read_voxel_metadata(files["VoxelMetadata"])
    roi_columns = data.resolve_rois(list(rois), voxels.columns, files["VoxelMetadata"])
    masks = {name: (voxels[list(columns)].to_numpy() == 1).any(axis=1) for name, columns in roi_columns.items()}
    for name, mask in masks.items():
        if not mask.any():
            raise DatasetFormatError(f"{files['VoxelMetadata']}: ROI {name} ({' + '.join(roi_columns[name])}) "
                                          "contains no voxel")
    rows = np.flatnonzero(np.any(np.stack(list(masks.values())), axis=0))  # each voxel once, sorted
    voxel_ids = voxels[data.VOXEL_ID].to_numpy()
    with data._open_hdf5(files["ResponseData"]) as handle:
        train = _split_means(handle, data, files, trials, voxel_ids, rows, "train", sid, images_root)
        test = _split_means(handle, data, files, trials, voxel_ids, rows, data.TEST_TRIAL_TYPE, sid, images_root)
    for paths in (train[3], test[3]):
        fmri_common.check_images_exist(paths, images_root, "<concept>/<stimulus file> as in the THINGS database")
    mean, components = fit_pca(train[0], dim)  # the training images only
    scores = {name: (split[0] - mean) @ components.T for name, split in (("training", train), ("test", test))}
    zscore = ZScore.fit(scores["training"])
    splits = {name: ImageSplit(paths=split[3], targets=zscore.apply(scores[name]).astype(np.float32),
                               concepts=split[2], stimulus_ids=split[1])
              for name, split in (("training", train), ("test", test))}
    return BrainTargets(
        subject=subject, training=splits["training"], test=splits["test"], zscore=zscore, source=str(root),
        description={"kind": "things-fmri", "rois": {name: list(columns) for name, columns in roi_columns.items()},
                     "n_voxels": int(len(rows)), "pca_dim": dim, "pca_fitted_on": "training images only",
                     "n_training_images": len(train[1]), "n_test_images": len(test[1])},
        target_transform={"mean": mean.astype(np.float32), "components": components.astype(np.float32)})
