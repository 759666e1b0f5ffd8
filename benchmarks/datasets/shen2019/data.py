"""Shen et al. (2019) "Deep image reconstruction" fMRI, natural-image test set: ROI patterns per subject.

The ReAlnet paper compares models with this test set: 50 ImageNet images, 3 subjects, 5 ROIs (V1, V2, V3, V4,
higher visual cortex HVC), each image presented repeatedly (24 times in the release) and averaged here.
Layout under the data root (default ``$REALNET_DATA_DIR/shen2019``)::

    sub-0X_perceptionNaturalImageTest_original_VC.h5   BData (see :mod:`.bdata`), figshare 7033577
    images/test/<stimulus name>.JPEG                   the user's copy of the test images (not redistributable)

Per file: voxel columns carry ROI metadata keys ``ROI_V1``, ``ROI_V2``, ``ROI_V3``, ``ROI_V4`` (``ROI_hV4`` in the
fMRIPrep re-release), ``ROI_HVC`` (1 = in the ROI); per-sample label columns name the image. The image is taken
from ``stimulus_name`` when it has a vmap (value -> file name, as in bdpy's newer files), else decoded from the
float ``stimulus_id`` (integer part = WordNet synset offset, six decimals = image number:
``1518878.005958`` -> ``n01518878_5958``). Stimulus ids are these names; rows are sorted by id and identical for
every subject and ROI. ``label_key`` and the ROI keys can be overridden.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import DatasetFormatError
from ..fmri_common import (
    NanPolicy,
    RoiPatterns,
    apply_nan_policy,
    average_repetitions,
    check_equal_repetitions,
    check_images_exist,
    check_same_stimuli,
    require_file,
    resolve_root,
)
from .bdata import BData, read_bdata

DATASET = "shen2019"
# visual angle of the images: 12 x 12 degrees, "presented with a central fixation for 8 s flashed at 2 Hz
# subtending 12x12 degrees of visual angle" (Shen et al. 2019, PLoS Comput Biol 15:e1006633, methods, as the MOSAIC
# preprint's dataset summary quotes it: bioRxiv 10.64898/2025.11.28.690060, section 7.2.4 "Deeprecon"). Not in the
# released files. Used by the benchmark's place_on_screen=true; by default the benchmark shows images whole.
STIMULUS_DEGREES = 12.0
SUBJECTS: tuple[str, ...] = ("01", "02", "03")
FILE_PATTERN = "sub-{subject}_perceptionNaturalImageTest_original_VC.h5"
# ROI name -> metadata keys tried in order (the first present is used)
DEFAULT_ROIS: Mapping[str, tuple[str, ...]] = {
    "V1": ("ROI_V1",), "V2": ("ROI_V2",), "V3": ("ROI_V3",), "V4": ("ROI_V4", "ROI_hV4"), "HVC": ("ROI_HVC",),
}
LABEL_KEYS = ("stimulus_name", "stimulus_id")
VOXEL_KEY = "VoxelData"
IMAGE_EXTENSIONS = (".JPEG", ".jpeg", ".jpg", ".JPG", ".png")
LAYOUT = f"{FILE_PATTERN.format(subject='0X')} files and images/test/<stimulus name>.JPEG"
_STIMULUS_NAME = re.compile(r"^n\d{8}_\d+$")


def stimulus_name_from_id(stimulus_id: float) -> str:
    """``1518878.005958`` -> ``'n01518878_5958'`` (synset offset . six-digit image number)."""
    synset = int(np.floor(stimulus_id))
    image = int(round((stimulus_id - synset) * 1e6))
    return f"n{synset:08d}_{image}"


def load_shen2019(root: str | os.PathLike | None = None, *, subjects: Sequence[str] = SUBJECTS,
                  rois: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                  images_dir: str | os.PathLike | None = None, label_key: str | None = None,
                  file_pattern: str = FILE_PATTERN, data_type: float | None = None,
                  require_equal_repetitions: bool = True, nan_policy: NanPolicy = "raise",
                  progress: bool = True) -> RoiPatterns:
    """Load the test-set samples of ``subjects`` averaged over repetitions, per ROI.

    ``rois``: names of ``DEFAULT_ROIS`` (or raw metadata keys such as ``'ROI_LOC'``), or a mapping name -> keys
    tried in order; default all five. ``images_dir`` defaults to ``<root>/images/test``. ``label_key``: the
    metadata key naming each sample's image (default: ``stimulus_name`` if it has a vmap, else ``stimulus_id``).
    ``data_type``: keep only samples whose ``DataType`` equals it (default: all samples of the file).

    Returns :class:`~benchmarks.datasets.fmri_common.RoiPatterns`: ``pattern('sub-01', 'V1')`` is (n_images, n_voxels).
    Raises :class:`~benchmarks.datasets.errors.DatasetNotFoundError` (files or images missing) and
    :class:`~benchmarks.datasets.errors.DatasetFormatError` (not BData, missing ROI or label keys, ROI columns that are
    not voxels, NaN, unequal repetitions, different test images across subjects).
    """
    root = resolve_root(DATASET, root, LAYOUT)
    images_root = Path(images_dir).expanduser() if images_dir is not None else root / "images" / "test"
    if nan_policy not in ("raise", "drop_voxels"):
        raise ValueError(f"nan_policy must be 'raise' or 'drop_voxels', got {nan_policy!r}")
    if not subjects:
        raise ValueError("no subjects requested")
    requested = _requested_rois(rois)
    loaded = {}
    for subject in tqdm(subjects, desc="Shen 2019 subjects", unit="subject", disable=not progress):
        path = require_file(root / file_pattern.format(subject=subject), f"Shen 2019 test fMRI of sub-{subject}")
        loaded[f"sub-{subject}"] = _load_subject(read_bdata(path), requested, label_key, data_type,
                                                 require_equal_repetitions, nan_policy)
    stimulus_ids = check_same_stimuli({name: ids for name, (ids, _, _) in loaded.items()},
                                      f"{DATASET} test sets under {root}")
    image_paths = tuple(_image_path(images_root, stimulus) for stimulus in stimulus_ids)
    check_images_exist(image_paths, images_root, "<stimulus name> with one of the extensions "
                       + "/".join(IMAGE_EXTENSIONS))
    return RoiPatterns(
        dataset=DATASET, subjects=tuple(loaded), rois=tuple(requested), stimulus_ids=stimulus_ids,
        image_paths=image_paths, patterns={name: entry[1] for name, entry in loaded.items()},
        n_repetitions={name: entry[2] for name, entry in loaded.items()},
        stimulus_metadata={"synset": tuple(stimulus.split("_")[0] for stimulus in stimulus_ids)})


def _requested_rois(rois) -> dict[str, tuple[str, ...]]:
    if rois is None:
        return dict(DEFAULT_ROIS)
    if isinstance(rois, Mapping):
        requested = {name: tuple(keys) for name, keys in rois.items()}
    else:
        requested = {name: DEFAULT_ROIS.get(name, (name if name.startswith("ROI_") else f"ROI_{name}",))
                     for name in rois}
    if not requested:
        raise ValueError("no ROIs requested")
    return requested


def _image_path(images_root: Path, stimulus: str) -> Path:
    for extension in IMAGE_EXTENSIONS:
        path = images_root / f"{stimulus}{extension}"
        if path.is_file():
            return path
    return images_root / f"{stimulus}{IMAGE_EXTENSIONS[0]}"


def _load_subject(bdata: BData, rois: Mapping[str, tuple[str, ...]], label_key: str | None,
                  data_type: float | None, require_equal_repetitions: bool, nan_policy: NanPolicy):
    """-> (stimulus_ids, {roi: (n_images, n_voxels)}, counts (n_images,))."""
    labels = _sample_labels(bdata, label_key)  # (n_samples,) stimulus names
    samples = np.ones(len(labels), dtype=bool)
    if data_type is not None:
        samples = bdata.label_column("DataType") == data_type
        if not samples.any():
            raise DatasetFormatError(f"{bdata.source}: no samples with DataType == {data_type}")
    labels = labels[samples]
    stimulus_ids = sorted(set(labels))
    voxel_columns = bdata.columns(VOXEL_KEY) if VOXEL_KEY in bdata.keys else None

    patterns, counts = {}, None
    for name, candidates in rois.items():
        key = next((candidate for candidate in candidates if candidate in bdata.keys), None)
        if key is None:
            available = [k for k in bdata.keys if k.startswith("ROI_")]
            raise DatasetFormatError(f"{bdata.source}: ROI {name} needs metadata key {' or '.join(candidates)}; "
                                     f"available ROI keys: {', '.join(available) or 'none'}")
        columns = bdata.columns(key)
        if not columns.any():
            raise DatasetFormatError(f"{bdata.source}: ROI {name} ({key}) marks no column")
        if voxel_columns is not None and (columns & ~voxel_columns).any():
            raise DatasetFormatError(f"{bdata.source}: ROI {name} ({key}) marks {int((columns & ~voxel_columns).sum())}"
                                     f" columns that are not {VOXEL_KEY}")
        trials = bdata.dataset[samples][:, columns]  # (n_samples, n_voxels)
        means, counts = average_repetitions(trials, labels, stimulus_ids)  # (n_images, n_voxels)
        patterns[name] = apply_nan_policy(means, nan_policy, f"{bdata.source}: ROI {name} ({key})")
    if require_equal_repetitions:
        check_equal_repetitions(counts, stimulus_ids, bdata.source)
    return tuple(stimulus_ids), patterns, counts


def _sample_labels(bdata: BData, label_key: str | None) -> np.ndarray:
    """(n_samples,) object array: the stimulus name of every sample."""
    if label_key is None:
        label_key = next((key for key in LABEL_KEYS if key in bdata.keys and (key != "stimulus_name"
                                                                           or key in bdata.vmap)), None)
        if label_key is None:
            raise DatasetFormatError(f"{bdata.source}: cannot name the images: expected metadata key stimulus_name "
                                     f"(with a vmap) or stimulus_id; keys: {', '.join(bdata.keys)}")
    values = bdata.label_column(label_key)
    if not np.isfinite(values).all():
        raise DatasetFormatError(f"{bdata.source}: label {label_key!r} is NaN for {int((~np.isfinite(values)).sum())}"
                                 " samples")
    if label_key in bdata.vmap:
        names = bdata.vmap[label_key]
        unknown = sorted({float(v) for v in values if float(v) not in names})
        if unknown:
            raise DatasetFormatError(f"{bdata.source}: vmap of {label_key!r} has no name for values {unknown[:5]}")
        labels = [Path(names[float(v)]).stem for v in values]
        files_of_label: dict[str, set[str]] = {}
        for v in set(float(v) for v in values):
            files_of_label.setdefault(Path(names[v]).stem, set()).add(str(names[v]))
        shared = {label: sorted(files) for label, files in files_of_label.items() if len(files) > 1}
        if shared:  # the image id is the name without extension: two images under one id would be averaged
            label, files = next(iter(shared.items()))
            raise DatasetFormatError(f"{bdata.source}: images {files} share the stimulus id {label!r} (the name "
                                     "without extension); each image needs its own")
    elif label_key == "stimulus_id":
        labels = [stimulus_name_from_id(float(v)) for v in values]
    else:
        raise DatasetFormatError(f"{bdata.source}: label {label_key!r} has no vmap to name the images; use "
                                 "label_key='stimulus_name' (with vmap) or 'stimulus_id'")
    odd = sorted({label for label in labels if not _STIMULUS_NAME.match(label)})
    if odd and label_key == "stimulus_id":
        raise DatasetFormatError(f"{bdata.source}: stimulus_id values do not decode to ImageNet names: {odd[:5]}")
    return np.array(labels, dtype=object)


