"""Kriegeskorte et al. (2008), 92 images: human-IT fMRI RDMs and the images, validated and in one order.

Source: the rsatoolbox repository (MIT), folder ``demos/92imageData/`` at the pinned commit
:data:`RSATOOLBOX_COMMIT`. Files under the data root (default ``$REALNET_DATA_DIR/kriegeskorte2008``); missing
ones are downloaded from ``raw.githubusercontent.com`` and every file is checked against its sha256:

- ``92_brainRDMs.mat``: struct ``RDMs`` (1 x 4 x 2), fields ``RDM`` (92 x 92) and ``name``
  (``'hIT | BE | Session: 1'`` ...): 4 subjects (BE, KO, SN, TI) x 2 sessions.
- ``Kriegeskorte_Neuron2008_supplementalData.mat``: ``stimuli_92objs`` (1 x 92; fields ``category``,
  ``image`` (175 x 175 x 3 uint8) ...), ``categoryVectors`` (92 x 12), ``categoryLabels`` (1 x 12),
  ``RDMs_mIT_hIT_fig1`` (monkey IT and mean human IT RDMs as 4186-long ``squareform`` vectors).
- ``92_modelRDMs.mat``: struct ``Models`` (1 x 8), fields ``RDM`` (92 x 92) and ``name`` (``'Silhouette'`` ...).

Order checks (cheap, run on every load): the categories come in the published blocks (12 human body,
12 human face, 12 non-human body, 12 non-human face, 23 natural, 21 artificial inanimate) and agree with
``categoryVectors``; the mean of the 8 brain RDMs equals ``hITvisStim_316vx`` of the supplement (ties the RDM
file to the image file); a silhouette RDM computed from the images (1 - Pearson between foreground masks)
matches the ``Silhouette`` model RDM at Spearman 1 (ties the images to the RDM order); the mean hIT RDM
separates animate from inanimate images (within-group dissimilarity below between-group).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from model_registry.stimuli import Stimuli
from model_registry.storage.download import fetch, file_sha256
from model_registry.storage.paths import data_dir

from ..errors import DatasetFormatError, DatasetNotFoundError
from ..fmri_common import build_stimulus_set, listed, write_png_stimuli

DATASET = "kriegeskorte2008"
# visual angle of the images in the human fMRI experiment: 2.9 degrees wide (Kriegeskorte et al. 2008, Neuron 60:1126,
# Experimental Procedures). Inferred, not confirmed: the value is not in the released files, and no public copy of
# the methods text could be read here (only the paper's first page); make it a parameter where it matters. Used by
# the benchmark's place_on_screen=true (Stimuli(..., degrees=)); by default the benchmark shows images whole.
STIMULUS_DEGREES = 2.9
RSATOOLBOX_COMMIT = "f1f83cadb7243492a1aae7460466e0f0140b20ac"
BASE_URL = f"https://raw.githubusercontent.com/rsagroup/rsatoolbox/{RSATOOLBOX_COMMIT}/demos/92imageData/"
BRAIN_RDMS_FILE = "92_brainRDMs.mat"
SUPPLEMENT_FILE = "Kriegeskorte_Neuron2008_supplementalData.mat"
MODEL_RDMS_FILE = "92_modelRDMs.mat"
SHA256: Mapping[str, str] = {
    BRAIN_RDMS_FILE: "1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c",
    SUPPLEMENT_FILE: "06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504",
    MODEL_RDMS_FILE: "e1d2b58bb2f9508bc13da4c81b94d1ab07823b25ed30b9563bd9d6d730c2a00a",
}
N_IMAGES = 92
N_PAIRS = N_IMAGES * (N_IMAGES - 1) // 2  # 4186
# (label in the .mat file, short name used in stimulus ids, number of images), in the published order
CATEGORY_BLOCKS: tuple[tuple[str, str, int], ...] = (
    ("human bodypart", "human_body", 12),
    ("human face", "human_face", 12),
    ("nonhuman bodypart", "nonhuman_body", 12),
    ("nonhuman face", "nonhuman_face", 12),
    ("natural inanimate", "natural_inanimate", 23),
    ("artificial inanimate", "artificial_inanimate", 21),
)
ANIMATE_CATEGORIES = frozenset({"human_body", "human_face", "nonhuman_body", "nonhuman_face"})
CATEGORY_VECTOR_NAMES = ("animate", "inanim", "human", "nonhumani", "body", "face", "natObj", "artiObj",
                         "rand24", "rand48", "other48", "monkeyape")
HUMAN_IT_MEAN_NAME = "hITvisStim_316vx"
MONKEY_IT_NAME = "mIT_674neurons"
SILHOUETTE_MODEL = "Silhouette"
MEAN_RDM_ATOL = 1e-5      # the supplement's mean hIT RDM vs the mean of the 8 float32 brain RDMs
SYMMETRY_ATOL = 1e-6
MIN_SILHOUETTE_SPEARMAN = 0.999
_RDM_NAME = re.compile(r"^\s*hIT\s*\|\s*(?P<subject>\w+)\s*\|\s*Session:\s*(?P<session>\d+)\s*$")


@dataclass(frozen=True)
class Kriegeskorte2008:
    """The 92-image human-IT data, validated; everything indexed by image follows ``stimulus_ids``.

    ``rdms``: (n_subjects=4, n_sessions=2, 92, 92) float64 human-IT dissimilarities (1 - Pearson of voxel
    patterns, as published); ``subjects`` ('BE', 'KO', 'SN', 'TI'), ``sessions`` (1, 2).
    ``images``: (92, H, W, 3) uint8 (175 x 175 in the release). ``categories``: (92,) short category names.
    ``category_vectors``: (92, 12) uint8 with columns ``category_vector_names``.
    ``monkey_it_rdm``: (92, 92) float64 monkey IT RDM of the supplement (Kiani et al. 2007 neurons).
    ``model_rdms``: name -> (92, 92) float64 reference model RDMs of ``92_modelRDMs.mat``.
    """

    rdms: np.ndarray
    subjects: tuple[str, ...]
    sessions: tuple[int, ...]
    stimulus_ids: tuple[str, ...]
    categories: tuple[str, ...]
    category_vectors: np.ndarray
    category_vector_names: tuple[str, ...]
    images: np.ndarray
    monkey_it_rdm: np.ndarray
    model_rdms: Mapping[str, np.ndarray]
    files: Mapping[str, Path]

    def subject_rdms(self) -> np.ndarray:
        """(n_subjects, 92, 92): each subject's RDM averaged over sessions."""
        return self.rdms.mean(axis=1)

    def mean_rdm(self) -> np.ndarray:
        """(92, 92): the RDM averaged over all subjects and sessions (the published group hIT RDM)."""
        return self.rdms.mean(axis=(0, 1))

    def stimuli(self) -> Stimuli:
        """The images (in memory) as :class:`model_registry.stimuli.Stimuli`, in RDM order."""
        return Stimuli(self.stimulus_ids, tuple(self.images))

    def stimulus_set(self, folder: str | os.PathLike | None = None):
        """A Brain-Score ``StimulusSet`` in RDM order with a ``category`` column; the images are written as PNG
        files ``<folder>/<stimulus_id>.png`` (default ``cache_dir('stimuli')/kriegeskorte2008``)."""
        paths = write_png_stimuli(self.images, self.stimulus_ids, DATASET, folder)
        return build_stimulus_set(DATASET, self.stimulus_ids, paths, {"category": self.categories})


# --------------------------------------------------------------------------------------------------------------
# files


def dataset_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` if given, else ``$REALNET_DATA_DIR/kriegeskorte2008`` (not required to exist yet)."""
    return Path(root).expanduser() if root is not None else data_dir(DATASET)


def download_files(root: str | os.PathLike | None = None, base_url: str | None = None, *,
                   verify_hash: bool = True, progress: bool = True) -> dict[str, Path]:
    """Make sure the three files are under ``root``; returns file name -> local path.

    Missing files are downloaded from ``base_url`` (default :data:`BASE_URL`, the raw files of the pinned
    rsatoolbox commit; must end with '/') and always checked against the published sha256. Files already present
    are checked too unless ``verify_hash=False`` (for a deliberately modified copy). Raises
    :class:`model_registry.storage.download.DownloadError` (offline, or a downloaded file with the wrong hash) and
    :class:`~benchmarks.datasets.errors.DatasetFormatError` (a present file with the wrong hash).
    """
    folder = dataset_root(root)
    base = base_url if base_url is not None else BASE_URL
    paths = {}
    for name, sha256 in SHA256.items():
        path = folder / name
        if not path.is_file():
            path = fetch(base + name, sha256, folder=folder, progress=progress)
        elif verify_hash:
            found = file_sha256(path)
            if found != sha256:
                raise DatasetFormatError(
                    f"{path}: sha256 {found} does not match the published file ({sha256}, rsatoolbox commit "
                    f"{RSATOOLBOX_COMMIT}). Delete it to download it again, or pass verify_hash=False to load a "
                    "deliberately different copy (its content is still validated).")
        paths[name] = path
    return paths


# --------------------------------------------------------------------------------------------------------------
# loading


def load_kriegeskorte2008(root: str | os.PathLike | None = None, *, download: bool = True,
                          base_url: str | None = None, verify_hash: bool = True,
                          progress: bool = True) -> Kriegeskorte2008:
    """Load and validate the 92-image human-IT RDMs and images (downloading missing files unless
    ``download=False``). See the module docstring for the files and the order checks.

    Raises :class:`~benchmarks.datasets.errors.DatasetNotFoundError` (files missing, no download),
    :class:`~benchmarks.datasets.errors.DatasetFormatError` (hash mismatch, missing variables or fields, wrong
    shapes, non-finite or asymmetric RDMs, order checks failing), ``DownloadError`` (download failed).
    """
    root = dataset_root(root)
    missing = [name for name in SHA256 if not (root / name).is_file()]
    if missing and not download:
        raise DatasetNotFoundError(f"missing Kriegeskorte 2008 files in {root}: {listed(missing)}; pass "
                                   f"download=True to fetch them from rsatoolbox@{RSATOOLBOX_COMMIT[:10]}")
    files = download_files(root, base_url, verify_hash=verify_hash, progress=progress)
    rdms, subjects, sessions = _read_brain_rdms(files[BRAIN_RDMS_FILE])
    supplement = _read_supplement(files[SUPPLEMENT_FILE])
    model_rdms = _read_model_rdms(files[MODEL_RDMS_FILE])

    _check_mean_identity(rdms, supplement["human_it_mean"], files)
    _check_silhouettes(supplement["images"], model_rdms, files)
    _check_animacy_structure(rdms, supplement["categories"], files[BRAIN_RDMS_FILE])

    categories = supplement["categories"]
    stimulus_ids = tuple(f"k92_{index:03d}_{category}" for index, category in enumerate(categories))
    return Kriegeskorte2008(
        rdms=rdms, subjects=subjects, sessions=sessions, stimulus_ids=stimulus_ids, categories=categories,
        category_vectors=supplement["category_vectors"], category_vector_names=CATEGORY_VECTOR_NAMES,
        images=supplement["images"], monkey_it_rdm=supplement["monkey_it_rdm"], model_rdms=model_rdms,
        files=files)


def _loadmat(path: Path, variables: tuple[str, ...]) -> dict:
    try:
        content = scipy.io.loadmat(path, variable_names=list(variables))
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DatasetFormatError(f"{path}: not a readable MATLAB (v5) file ({type(error).__name__}: {error})") \
            from error
    missing = [name for name in variables if name not in content]
    if missing:
        found = sorted(name for name in content if not name.startswith("__"))
        raise DatasetFormatError(f"{path}: variable(s) {', '.join(missing)} not found (found: {found or 'none'})")
    return content


def _struct(content: dict, variable: str, fields: tuple[str, ...], path: Path, count: int) -> np.ndarray:
    """The MATLAB struct array ``variable`` flattened to (count,), after checking its fields and size."""
    value = content[variable]
    names = value.dtype.names if isinstance(value, np.ndarray) else None
    if not names:
        raise DatasetFormatError(f"{path}: {variable} should be a struct array, found {type(value).__name__} "
                                 f"{getattr(value, 'dtype', '')}")
    missing = [name for name in fields if name not in names]
    if missing:
        raise DatasetFormatError(f"{path}: struct {variable} lacks field(s) {', '.join(missing)} "
                                 f"(has {', '.join(names)})")
    if value.size != count:
        raise DatasetFormatError(f"{path}: struct {variable} has {value.size} entries, expected {count} "
                                 f"(shape {value.shape})")
    return value


def _text(value) -> str:
    """A MATLAB char array as loaded by scipy (``array(['text'])``) -> ``'text'``."""
    array = np.asarray(value)
    return str(array.reshape(-1)[0]).strip() if array.size else ""


def _square_rdm(value, what: str) -> np.ndarray:
    rdm = np.asarray(value)
    if rdm.shape != (N_IMAGES, N_IMAGES) or not np.issubdtype(rdm.dtype, np.number):
        raise DatasetFormatError(f"{what}: expected a numeric {N_IMAGES} x {N_IMAGES} RDM, found shape {rdm.shape} "
                                 f"dtype {rdm.dtype}")
    rdm = rdm.astype(np.float64)
    if not np.isfinite(rdm).all():
        raise DatasetFormatError(f"{what}: {int((~np.isfinite(rdm)).sum())} NaN or infinite dissimilarities")
    asymmetry = np.abs(rdm - rdm.T).max()
    if asymmetry > SYMMETRY_ATOL:
        raise DatasetFormatError(f"{what}: not symmetric (largest |d_ij - d_ji| = {asymmetry:.3g})")
    if np.abs(np.diag(rdm)).max() > SYMMETRY_ATOL:
        raise DatasetFormatError(f"{what}: diagonal is not zero (largest |d_ii| = {np.abs(np.diag(rdm)).max():.3g})")
    return rdm


def _read_brain_rdms(path: Path) -> tuple[np.ndarray, tuple[str, ...], tuple[int, ...]]:
    struct = _struct(_loadmat(path, ("RDMs",)), "RDMs", ("RDM", "name"), path, count=8)
    if struct.ndim != 3 or struct.shape[1:] != (4, 2):
        raise DatasetFormatError(f"{path}: RDMs should be 1 x 4 x 2 (subjects x sessions), found {struct.shape}")
    entries = struct.reshape(4, 2)
    rdms = np.empty((4, 2, N_IMAGES, N_IMAGES), dtype=np.float64)
    subjects, sessions = [], []
    for s in range(4):
        for t in range(2):
            name = _text(entries[s, t]["name"])
            match = _RDM_NAME.match(name)
            if not match:
                raise DatasetFormatError(f"{path}: RDMs({s + 1},{t + 1}).name = {name!r}, expected "
                                         "'hIT | <subject> | Session: <n>'")
            subject, session = match["subject"], int(match["session"])
            if t == 0:
                subjects.append(subject)
            elif subject != subjects[s]:
                raise DatasetFormatError(f"{path}: RDMs({s + 1},:) mixes subjects {subjects[s]} and {subject}")
            if s == 0:
                sessions.append(session)
            elif session != sessions[t]:
                raise DatasetFormatError(f"{path}: RDMs(:,{t + 1}) mixes sessions {sessions[t]} and {session}")
            rdms[s, t] = _square_rdm(entries[s, t]["RDM"], f"{path}: RDMs({s + 1},{t + 1}) ({name})")
    if len(set(subjects)) != 4 or len(set(sessions)) != 2:
        raise DatasetFormatError(f"{path}: expected 4 distinct subjects and 2 sessions, found {subjects} x {sessions}")
    if (rdms < 0).any():
        raise DatasetFormatError(f"{path}: negative dissimilarities ({int((rdms < 0).sum())} entries)")
    return rdms, tuple(subjects), tuple(sessions)


def _read_supplement(path: Path) -> dict:
    content = _loadmat(path, ("stimuli_92objs", "categoryVectors", "categoryLabels", "RDMs_mIT_hIT_fig1"))
    stimuli = _struct(content, "stimuli_92objs", ("category", "image"), path, count=N_IMAGES).reshape(-1)

    images = [np.asarray(entry["image"]) for entry in stimuli]
    shapes = {image.shape for image in images}
    dtypes = {image.dtype for image in images}
    if len(shapes) != 1 or dtypes != {np.dtype(np.uint8)} or len(images[0].shape) != 3 or images[0].shape[2] != 3:
        raise DatasetFormatError(f"{path}: stimuli_92objs.image should be H x W x 3 uint8 of one size, found shapes "
                                 f"{sorted(shapes)} and dtypes {sorted(map(str, dtypes))}")
    labels = [_text(entry["category"]) for entry in stimuli]
    categories = _check_category_blocks(labels, path)

    vectors = np.asarray(content["categoryVectors"])
    if vectors.shape != (N_IMAGES, len(CATEGORY_VECTOR_NAMES)):
        raise DatasetFormatError(f"{path}: categoryVectors should be {N_IMAGES} x {len(CATEGORY_VECTOR_NAMES)}, "
                                 f"found {vectors.shape}")
    names = tuple(_text(label) for label in np.asarray(content["categoryLabels"]).reshape(-1))
    if names != CATEGORY_VECTOR_NAMES:
        raise DatasetFormatError(f"{path}: categoryLabels are {list(names)}, expected {list(CATEGORY_VECTOR_NAMES)}")
    _check_category_vectors(vectors, categories, path)

    figure = _struct(content, "RDMs_mIT_hIT_fig1", ("name", "RDM"), path, count=2).reshape(-1)
    by_name = {_text(entry["name"]): np.asarray(entry["RDM"], dtype=np.float64).reshape(-1) for entry in figure}
    for name in (HUMAN_IT_MEAN_NAME, MONKEY_IT_NAME):
        if name not in by_name:
            raise DatasetFormatError(f"{path}: RDMs_mIT_hIT_fig1 has no entry named {name} (found {list(by_name)})")
        if by_name[name].shape != (N_PAIRS,):
            raise DatasetFormatError(f"{path}: RDMs_mIT_hIT_fig1 {name} should hold {N_PAIRS} dissimilarities, "
                                     f"found {by_name[name].shape[0]}")
    monkey = by_name[MONKEY_IT_NAME]
    if not np.isfinite(monkey).all():
        raise DatasetFormatError(f"{path}: {MONKEY_IT_NAME} holds NaN or infinite dissimilarities")
    return {"images": np.stack(images), "categories": categories, "category_vectors": vectors.astype(np.uint8),
            "human_it_mean": by_name[HUMAN_IT_MEAN_NAME], "monkey_it_rdm": squareform(monkey, checks=False)}


def _check_category_blocks(labels: list[str], path: Path) -> tuple[str, ...]:
    expected = [long for long, _, count in CATEGORY_BLOCKS for _ in range(count)]
    if labels != expected:  # both have N_IMAGES entries (checked by _struct)
        first = next(i for i, (found, wanted) in enumerate(zip(labels, expected)) if found != wanted)
        published = ", ".join(f"{count} {long}" for long, _, count in CATEGORY_BLOCKS)
        raise DatasetFormatError(f"{path}: image categories are not in the published order ({published}); image "
                                 f"{first} is {labels[first]!r}, expected {expected[first]!r}")
    short = {long: name for long, name, _ in CATEGORY_BLOCKS}
    return tuple(short[label] for label in labels)


def _check_category_vectors(vectors: np.ndarray, categories: tuple[str, ...], path: Path) -> None:
    category = np.array(categories)
    animate = np.isin(category, list(ANIMATE_CATEGORIES))
    expected = {
        "animate": animate,
        "inanim": ~animate,
        "human": np.char.startswith(category.astype(str), "human_"),
        "face": np.char.endswith(category.astype(str), "_face"),
        "body": np.char.endswith(category.astype(str), "_body"),
        "natObj": category == "natural_inanimate",
        "artiObj": category == "artificial_inanimate",
    }
    for column, mask in expected.items():
        found = vectors[:, CATEGORY_VECTOR_NAMES.index(column)] == 1
        if not np.array_equal(found, mask):
            rows = np.flatnonzero(found != mask)
            raise DatasetFormatError(f"{path}: categoryVectors column {column!r} disagrees with the image categories "
                                     f"at images {listed(rows.tolist())}")


def _read_model_rdms(path: Path) -> dict[str, np.ndarray]:
    content = _loadmat(path, ("Models",))
    models = content["Models"]
    if not (isinstance(models, np.ndarray) and models.dtype.names and {"RDM", "name"} <= set(models.dtype.names)):
        raise DatasetFormatError(f"{path}: Models should be a struct array with fields RDM and name")
    rdms = {}
    for entry in models.reshape(-1):
        name = _text(entry["name"])
        rdms[name] = _square_rdm(entry["RDM"], f"{path}: model RDM {name!r}")
    if SILHOUETTE_MODEL not in rdms:
        raise DatasetFormatError(f"{path}: no model RDM named {SILHOUETTE_MODEL!r} (found {list(rdms)})")
    return rdms


# --------------------------------------------------------------------------------------------------------------
# order checks


def _check_mean_identity(rdms: np.ndarray, human_it_mean: np.ndarray, files: Mapping[str, Path]) -> None:
    mean = squareform(rdms.mean(axis=(0, 1)), checks=False)
    difference = np.abs(mean - human_it_mean).max()
    if difference > MEAN_RDM_ATOL:
        raise DatasetFormatError(
            f"{files[BRAIN_RDMS_FILE]} and {files[SUPPLEMENT_FILE]} disagree: the mean of the 8 brain RDMs differs "
            f"from {HUMAN_IT_MEAN_NAME} by up to {difference:.3g} (expected <= {MEAN_RDM_ATOL}); the files are not "
            "the published pair or their stimulus orders differ")


def silhouette_rdm(images: np.ndarray) -> np.ndarray:
    """(n, n) RDM of 1 - Pearson between the images' foreground masks (pixels differing from the corner pixel).

    ``images``: (n, H, W, 3). On the 92 images this reproduces the ``Silhouette`` model RDM (Spearman 1).
    """
    background = images[:, :1, :1, :]  # (n, 1, 1, 3) top-left pixel of each image
    masks = (images != background).any(axis=-1).reshape(len(images), -1).astype(np.float64)
    return squareform(pdist(masks, metric="correlation"), checks=False)


def _check_silhouettes(images: np.ndarray, model_rdms: Mapping[str, np.ndarray], files: Mapping[str, Path]) -> None:
    upper = np.triu_indices(N_IMAGES, k=1)
    computed = silhouette_rdm(images)[upper]
    rho = spearmanr(computed, model_rdms[SILHOUETTE_MODEL][upper])[0] if np.isfinite(computed).all() else np.nan
    if not rho >= MIN_SILHOUETTE_SPEARMAN:
        raise DatasetFormatError(
            f"the images of {files[SUPPLEMENT_FILE]} are not in the order of the RDMs: their silhouette RDM matches "
            f"the {SILHOUETTE_MODEL!r} model RDM of {files[MODEL_RDMS_FILE]} at Spearman {rho:.3f} "
            f"(expected >= {MIN_SILHOUETTE_SPEARMAN})")


def _check_animacy_structure(rdms: np.ndarray, categories: tuple[str, ...], path: Path) -> None:
    animate = np.isin(np.array(categories), list(ANIMATE_CATEGORIES))
    upper = np.triu_indices(N_IMAGES, k=1)
    same_group = (animate[:, None] == animate[None, :])[upper]
    mean = rdms.mean(axis=(0, 1))[upper]
    within, between = mean[same_group].mean(), mean[~same_group].mean()
    if not within < between:
        raise DatasetFormatError(
            f"{path}: the mean human-IT RDM does not separate animate from inanimate images (mean dissimilarity "
            f"within {within:.3f}, between {between:.3f}); its rows are not in the image order")
