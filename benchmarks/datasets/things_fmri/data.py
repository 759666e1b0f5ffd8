"""THINGS-fMRI (Hebart et al. 2023), single-trial betas in table format: test-set ROI patterns, validated.

Layout under the data root (default ``$REALNET_DATA_DIR/things-fmri``)::

    betas_csv/sub-0X_ResponseData.h5        voxels x trials responses (see below)
    betas_csv/sub-0X_VoxelMetadata.csv      one row per voxel: voxel_id, ..., ROI 0/1 columns (V1, V2, V3, hV4,
                                            lLOC/rLOC, lFFA/rFFA, lPPA/rPPA, lEBA/rEBA, IT, glasser-* ...)
    betas_csv/sub-0X_StimulusMetadata.csv   one row per trial: trial_type (train/test), session, run, subject_id,
                                            trial_id, stimulus (file name), concept
    images/<concept>/<stimulus>             the user's THINGS images (licensed; not shipped)

``sub-0X_ResponseData.h5`` (the official figshare release, ``betas_csv.zip``) is a pandas ``DataFrame.to_hdf``
file in the default fixed format under key ``ResponseData``: one row per voxel (rows in VoxelMetadata order),
columns ``voxel_id`` and the trials ``0 .. n_trials-1`` (= StimulusMetadata row numbers; 9840 per subject),
so the float values sit in one ``block_values`` array of shape (n_voxels, n_trials). This follows the THINGS-data
usage notebook (``pd.read_hdf``; ``responses[stimdata.query('trial_type == "test"').index]``) and public code that
reads ``ResponseData/block0_values`` with h5py. Assumption, unverified on the 40 GB files: the trial labels are
the integers above (checked on load; any other labelling is reported, not guessed). The file is read with h5py
in row blocks (:mod:`.pandas_hdf`, no PyTables needed); only ROI voxels and test trials are kept.

Test set: 100 images x 12 repetitions (one per session); the loader averages the repetitions per image. Stimulus
ids are the image file stems (``candelabra_14s``), rows sorted by id, identical for every subject and ROI.
Averaged patterns are cached in the checksummed array cache (``$REALNET_HOME/cache/things-fmri``, verified on read,
a damaged entry recomputed) keyed by the response file's identity (path, size, modification time, first and last
MiB), the voxels and trials read and the code version, so a second load does not re-read the 8+ GB file.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pandas as pd
import xxhash
from tqdm.auto import tqdm

from model_registry.storage.array_cache import ArrayCache
from model_registry.storage.paths import cache_dir

from ..errors import DatasetFormatError
from ..fmri_common import (
    NanPolicy,
    RoiPatterns,
    apply_nan_policy,
    check_equal_repetitions,
    check_images_exist,
    check_same_stimuli,
    listed,
    repetition_averager,
    require_file,
    resolve_root,
)
from .pandas_hdf import open_frame

DATASET = "things-fmri"
# visual angle of the images (Hebart et al. 2023; Brain-Score's hebart2023_fmri benchmark uses VISUAL_DEGREES = 10).
# Used by the benchmark's place_on_screen=true; by default the benchmark shows images whole.
STIMULUS_DEGREES = 10.0
SUBJECTS: tuple[str, ...] = ("01", "02", "03")
RESPONSE_KEY = "ResponseData"
VOXEL_ID = "voxel_id"
TEST_TRIAL_TYPE = "test"
STIMULUS_COLUMNS = ("trial_type", "stimulus", "concept")
# ROI name -> VoxelMetadata columns whose union forms it (category-selective ROIs come per hemisphere)
DEFAULT_ROIS: Mapping[str, tuple[str, ...]] = {
    "V1": ("V1",), "V2": ("V2",), "V3": ("V3",), "hV4": ("hV4",),
    "LOC": ("lLOC", "rLOC"), "FFA": ("lFFA", "rFFA"), "PPA": ("lPPA", "rPPA"), "EBA": ("lEBA", "rEBA"),
    "IT": ("IT",),
}
NON_ROI_COLUMNS = frozenset({"voxel_id", "subject_id", "voxel_x", "voxel_y", "voxel_z", "nc_singletrial",
                             "nc_testset", "splithalf_uncorrected", "splithalf_corrected", "prf-eccentricity",
                             "prf-polarangle", "prf-rsquared", "prf-size"})
READ_BLOCK_BYTES = 64 << 20  # rows of the response array read at once
CACHE_VERSION = 1
LAYOUT = ("betas_csv/sub-0X_{ResponseData.h5, VoxelMetadata.csv, StimulusMetadata.csv} and "
          "images/<concept>/<stimulus>")


def subject_files(root: Path, subject: str) -> dict[str, Path]:
    """The three table-format files of one subject (``subject`` like ``'01'``)."""
    folder = root / "betas_csv"
    return {kind: folder / f"sub-{subject}_{kind}.{ext}" for kind, ext in
            (("ResponseData", "h5"), ("VoxelMetadata", "csv"), ("StimulusMetadata", "csv"))}


def load_things_fmri(root: str | os.PathLike | None = None, *, subjects: Sequence[str] = SUBJECTS,
                     rois: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                     images_dir: str | os.PathLike | None = None, require_equal_repetitions: bool = True,
                     nan_policy: NanPolicy = "raise", cache: bool = True, progress: bool = True) -> RoiPatterns:
    """Load the test-set responses of ``subjects`` averaged over repetitions, per ROI.

    ``rois``: ROI names (``DEFAULT_ROIS`` keys, or any VoxelMetadata column; a name ``X`` without a column of its
    own resolves to ``lX`` + ``rX``), or a mapping name -> columns whose union forms the ROI; default: all of
    ``DEFAULT_ROIS``. ``images_dir`` defaults to ``<root>/images``. ``nan_policy='drop_voxels'`` drops voxels
    with non-finite averaged responses instead of raising.

    Returns :class:`~benchmarks.datasets.fmri_common.RoiPatterns`: ``pattern('sub-01', 'V1')`` is (n_images, n_voxels).
    Raises :class:`~benchmarks.datasets.errors.DatasetNotFoundError` (files or images missing) and
    :class:`~benchmarks.datasets.errors.DatasetFormatError` (missing columns or ROIs, trial/voxel counts that do
    not match, NaN, unequal repetitions, different test images across subjects).
    """
    root = resolve_root(DATASET, root, LAYOUT)
    images_root = Path(images_dir).expanduser() if images_dir is not None else root / "images"
    if nan_policy not in ("raise", "drop_voxels"):
        raise ValueError(f"nan_policy must be 'raise' or 'drop_voxels', got {nan_policy!r}")
    if not subjects:
        raise ValueError("no subjects requested")
    loaded = {f"sub-{subject}": _load_subject(root, subject, rois, require_equal_repetitions, nan_policy, cache,
                                              progress) for subject in subjects}
    stimulus_ids = check_same_stimuli({name: entry.stimulus_ids for name, entry in loaded.items()},
                                      f"{DATASET} test sets under {root / 'betas_csv'}")
    first = next(iter(loaded.values()))
    image_paths = tuple(_image_path(images_root, concept, stimulus)
                        for concept, stimulus in zip(first.concepts, first.stimulus_files))
    check_images_exist(image_paths, images_root, "<concept>/<stimulus file> as in the THINGS image database")
    return RoiPatterns(
        dataset=DATASET, subjects=tuple(loaded), rois=tuple(first.patterns), stimulus_ids=stimulus_ids,
        image_paths=image_paths, patterns={name: entry.patterns for name, entry in loaded.items()},
        n_repetitions={name: entry.counts for name, entry in loaded.items()},
        stimulus_metadata={"concept": first.concepts})


def _image_path(images_root: Path, concept: str, stimulus: str) -> Path:
    nested = images_root / concept / stimulus
    flat = images_root / stimulus
    return flat if not nested.is_file() and flat.is_file() else nested


# --------------------------------------------------------------------------------------------------------------
# one subject


class _SubjectPatterns(NamedTuple):
    stimulus_ids: tuple[str, ...]  # (n_images,) sorted file stems
    concepts: tuple[str, ...]  # (n_images,)
    stimulus_files: tuple[str, ...]  # (n_images,) file names as in StimulusMetadata
    patterns: dict[str, np.ndarray]  # roi -> (n_images, n_voxels)
    counts: np.ndarray  # (n_images,) repetitions averaged


def _load_subject(root: Path, subject: str, rois, require_equal_repetitions: bool, nan_policy: NanPolicy,
                  cache: bool, progress: bool) -> _SubjectPatterns:
    files = {kind: require_file(path, f"THINGS-fMRI {kind} of sub-{subject}")
             for kind, path in subject_files(root, subject).items()}
    trials = _read_stimulus_metadata(files["StimulusMetadata"])
    voxels = _read_voxel_metadata(files["VoxelMetadata"])
    roi_columns = resolve_rois(rois, voxels.columns, files["VoxelMetadata"])
    roi_masks = {name: (voxels[list(columns)].to_numpy() == 1).any(axis=1) for name, columns in roi_columns.items()}
    for name, mask in roi_masks.items():
        if not mask.any():
            raise DatasetFormatError(f"{files['VoxelMetadata']}: ROI {name} ({' + '.join(roi_columns[name])}) "
                                     "contains no voxel")

    test = trials.index[trials["trial_type"] == TEST_TRIAL_TYPE].to_numpy()  # trial numbers = column labels
    if len(test) == 0:
        raise DatasetFormatError(f"{files['StimulusMetadata']}: no trials with trial_type == 'test'")
    rows = np.flatnonzero(np.any(np.stack(list(roi_masks.values())), axis=0))  # voxels needed, sorted

    with _open_hdf5(files["ResponseData"]) as handle:
        values, test_positions = _test_columns(handle, files["ResponseData"], voxels[VOXEL_ID].to_numpy(),
                                               len(trials), test, subject)
        stimulus_files = trials.loc[test, "stimulus"].astype(str).to_numpy()
        trial_ids = np.array([Path(name).stem for name in stimulus_files], dtype=object)
        files_of_id: dict[str, set[str]] = {}
        for stem, name in zip(trial_ids, stimulus_files):
            files_of_id.setdefault(stem, set()).add(name)
        shared = {stem: sorted(names) for stem, names in files_of_id.items() if len(names) > 1}
        if shared:  # the id is the file stem: two images under one id would be averaged as repetitions
            stem, names = next(iter(shared.items()))
            raise DatasetFormatError(f"{files['StimulusMetadata']}: test images {names} share the stimulus id "
                                     f"{stem!r} (the file name without extension); each test image needs its own")
        stimulus_ids = sorted(set(trial_ids))
        averager, counts = repetition_averager(trial_ids, stimulus_ids)  # (n_images, n_test), (n_images,)
        if require_equal_repetitions:
            check_equal_repetitions(counts, stimulus_ids, str(files["StimulusMetadata"]))
        means = ArrayCache(DATASET, cache_dir(DATASET)).get_or_compute(  # (n_images, n_rows)
            _cache_parts(files["ResponseData"], values, rows, test, test_positions, averager),
            lambda: {"means": _read_test_means(values, test_positions, averager, rows, progress, subject)},
            check=_means_check(averager.shape[0], len(rows)), enabled=cache)["means"]
    first_trial = {stimulus: i for i, stimulus in reversed(list(enumerate(trial_ids)))}
    concepts = tuple(str(trials.loc[test[first_trial[s]], "concept"]) for s in stimulus_ids)
    files_by_id = tuple(str(stimulus_files[first_trial[s]]) for s in stimulus_ids)

    column_of_row = {row: i for i, row in enumerate(rows)}
    patterns = {}
    for name, mask in roi_masks.items():
        pattern = means[:, [column_of_row[row] for row in np.flatnonzero(mask)]]
        patterns[name] = apply_nan_policy(pattern, nan_policy, f"{files['ResponseData']}: ROI {name}")
    return _SubjectPatterns(tuple(stimulus_ids), concepts, files_by_id, patterns, counts)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: not a readable CSV table ({error})") from error


def _read_stimulus_metadata(path: Path) -> pd.DataFrame:
    table = _read_csv(path)
    missing = [column for column in STIMULUS_COLUMNS if column not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {', '.join(missing)} (found {list(table.columns)}); "
                                 f"expected one row per trial with {', '.join(STIMULUS_COLUMNS)}")
    if table["stimulus"].isna().any():
        raise DatasetFormatError(f"{path}: {int(table['stimulus'].isna().sum())} trials have no stimulus file name")
    return table.reset_index(drop=True)


def _read_voxel_metadata(path: Path) -> pd.DataFrame:
    table = _read_csv(path)
    if VOXEL_ID not in table.columns:
        raise DatasetFormatError(f"{path}: missing column {VOXEL_ID!r} (found {listed(list(table.columns))})")
    return table


def resolve_rois(rois: Sequence[str] | Mapping[str, Sequence[str]] | None, columns: Sequence[str],
                 source: str | Path = "VoxelMetadata") -> dict[str, tuple[str, ...]]:
    """ROI name -> VoxelMetadata columns (see :func:`load_things_fmri`); unknown names list what is available."""
    columns = list(columns)
    if rois is None:
        requested = dict(DEFAULT_ROIS)
    elif isinstance(rois, Mapping):
        requested = {name: tuple(parts) for name, parts in rois.items()}
    else:
        requested = {}
        for name in rois:
            if name in columns:
                requested[name] = (name,)
            elif f"l{name}" in columns and f"r{name}" in columns:
                requested[name] = (f"l{name}", f"r{name}")
            else:
                requested[name] = DEFAULT_ROIS.get(name, (name,))
    if not requested:
        raise ValueError("no ROIs requested")
    for name, parts in requested.items():
        missing = [part for part in parts if part not in columns]
        if missing:
            raise DatasetFormatError(f"{source}: ROI {name} needs column(s) {', '.join(missing)}, which are absent; "
                                     f"available ROI columns: {_describe_roi_columns(columns)}")
    return requested


def _describe_roi_columns(columns: Sequence[str]) -> str:
    candidates = [column for column in columns if column not in NON_ROI_COLUMNS]
    glasser = [column for column in candidates if column.startswith("glasser-")]
    named = [column for column in candidates if not column.startswith("glasser-")]
    text = ", ".join(named) or "none"
    return f"{text} and {len(glasser)} glasser-* parcels" if glasser else text


# --------------------------------------------------------------------------------------------------------------
# response file


@contextlib.contextmanager
def _open_hdf5(path: Path) -> Iterator[h5py.File]:
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DatasetFormatError(f"{path}: not a readable HDF5 file ({error})") from error
    with handle:
        yield handle


def _cache_parts(path: Path, values: h5py.Dataset, rows: np.ndarray, test: np.ndarray, test_positions: np.ndarray,
                 averager: np.ndarray) -> dict:
    """Key parts of one subject's averaged test patterns: exactly what is computed (voxel rows, test trials and
    their columns, the averaging matrix, by content), the code version, and the response file's identity.

    The 8+ GB response file is identified by its resolved path, size, modification time, the stored dataset's
    shape and dtype and a hash of its first and last MiB (hashing all of it would cost more than the cache saves);
    the metadata tables it is read with enter through ``rows``, ``test`` and ``averager``."""
    return {"code_version": CACHE_VERSION, "response_file": _file_identity(path),
            "values": {"shape": list(values.shape), "dtype": values.dtype.str},
            "rows": rows.astype(np.int64), "test": test.astype(np.int64),
            "test_positions": np.asarray(test_positions).astype(np.int64), "averager": averager}


def _file_identity(path: Path, edge_bytes: int = 1 << 20) -> dict:
    stat = path.stat()
    with open(path, "rb") as handle:
        head = handle.read(edge_bytes)
        handle.seek(max(0, stat.st_size - edge_bytes))
        tail = handle.read(edge_bytes)
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head": xxhash.xxh3_128_hexdigest(head), "tail": xxhash.xxh3_128_hexdigest(tail)}


def _means_check(n_images: int, n_rows: int):
    def check(arrays: dict[str, np.ndarray]) -> None:
        means = arrays["means"]
        if means.shape != (n_images, n_rows) or means.dtype != np.float64:
            raise ValueError(f"means are {means.dtype} {means.shape}, expected float64 ({n_images}, {n_rows})")
    return check


def _test_columns(handle: h5py.File, path: Path, voxel_ids: np.ndarray, n_trials: int, test: np.ndarray,
                  subject: str) -> tuple[h5py.Dataset, np.ndarray]:
    """Check the stored frame against the metadata (voxel rows and ids, trial columns, float values); return the
    (n_voxels, n_block_columns) values dataset holding the trials and the (n_test,) positions of ``test`` in it."""
    frame = open_frame(handle, path, RESPONSE_KEY if RESPONSE_KEY in handle else None)
    if frame.n_rows != len(voxel_ids):
        raise DatasetFormatError(f"{path}: {frame.n_rows} voxel rows, but the VoxelMetadata of sub-{subject} lists "
                                 f"{len(voxel_ids)} voxels")
    if VOXEL_ID in frame.columns:
        stored_ids = frame.column(VOXEL_ID)
        if not np.array_equal(stored_ids, voxel_ids):
            first = int(np.flatnonzero(stored_ids != voxel_ids)[0])
            raise DatasetFormatError(f"{path}: voxel_id of row {first} is {stored_ids[first]}, VoxelMetadata says "
                                     f"{voxel_ids[first]}; the voxel orders differ")
    trial_labels = _trial_labels(frame.columns, path)
    if sorted(int(label) for label in trial_labels) != list(range(n_trials)):
        raise DatasetFormatError(f"{path}: {len(trial_labels)} trial columns, but the StimulusMetadata of "
                                 f"sub-{subject} lists {n_trials} trials (expected columns 0..{n_trials - 1})")
    label_of = {int(label): label for label in trial_labels}
    values, positions = frame.block_holding([label_of[int(trial)] for trial in test])
    if not np.issubdtype(values.dtype, np.floating):
        raise DatasetFormatError(f"{path}: trial responses are stored as {values.dtype}, expected floats")
    return values, positions


def _read_test_means(values: h5py.Dataset, test_positions: np.ndarray, averager: np.ndarray, rows: np.ndarray,
                     progress: bool, subject: str) -> np.ndarray:
    """(n_images, len(rows)): the test columns of voxel ``rows`` averaged per image, streamed in row blocks."""
    means = np.empty((averager.shape[0], len(rows)), dtype=np.float64)
    block_rows = max(1, READ_BLOCK_BYTES // max(1, values.shape[1] * values.dtype.itemsize))
    starts = np.unique(rows // block_rows) * block_rows  # only blocks that hold a needed voxel
    done = 0
    for start in tqdm(starts, desc=f"sub-{subject} test responses", unit="block", disable=not progress):
        stop = min(start + block_rows, values.shape[0])
        wanted = rows[(rows >= start) & (rows < stop)]
        block = values[start:stop]  # (stop - start, n_block_columns)
        test_responses = block[wanted - start][:, test_positions].astype(np.float64)  # (n_wanted, n_test)
        means[:, done:done + len(wanted)] = averager @ test_responses.T  # (n_images, n_wanted)
        done += len(wanted)
    return means


def _trial_labels(columns: Sequence, path: Path) -> list:
    """Column labels other than ``voxel_id``, checked to be trial numbers (ints or digit strings)."""
    labels = [label for label in columns if label != VOXEL_ID]
    odd = [label for label in labels if not (isinstance(label, (int, np.integer))
                                             or (isinstance(label, str) and label.isdigit()))]
    if odd:
        raise DatasetFormatError(f"{path}: expected trial-number columns besides voxel_id, found {listed(odd)}")
    return labels
