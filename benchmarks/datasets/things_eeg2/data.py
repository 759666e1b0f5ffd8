"""THINGS-EEG2 (Gifford et al. 2022), official preprocessed release: validated loading of EEG, metadata and images.

Layout under the data root (default ``$REALNET_DATA_DIR/things-eeg2``)::

    image_metadata.npy                                   pickled dict of lists (files / concepts per split)
    image_set/{training_images,test_images}/<00001_concept>/<file>.jpg
    preprocessed_data/sub-XX/preprocessed_eeg_{training,test}.npy
        pickled dict: preprocessed_eeg_data (n_images, n_repetitions, n_channels, n_times) float64 or float32,
                      ch_names (n_channels), times (n_times, seconds, evenly spaced)

Subject folders: ``sub-<number>`` with any zero padding (``sub-1``, ``sub-01`` and ``sub-001`` are all subject 1);
two folders naming one subject, or ``sub-0``, are refused by name. EEG that is non-finite, all zeros or beyond
:data:`EEG_MAX_ABS` in magnitude is refused naming the file.

The release holds 17 posterior channels (:data:`CHANNEL_NAMES`) and 100 times (-0.20 ... 0.79 s, 100 Hz) in
float64. Re-preprocessed copies (all 63 channels, another sampling rate or epoch, float32) load too: channels, times
and sampling rate are read from each file, channels are selected by name (default: the release's 17 when all are
present, else all of the file's), float32 stays float32.

Pairing of EEG rows and images: row i of every EEG file is the image in row i of ``image_metadata.npy``. The release
orders its images as the sorted ``image_set`` listing (concept folders by number, files sorted by name within a
concept); :func:`load_image_metadata` refuses a metadata file in any other order (and, for the release's own
images, any list other than the release's, compared with the copy shipped in brainscore-vision).

Expected image counts come from ``image_metadata.npy`` (the release: 200 test, 16540 training images), so
smaller synthetic datasets in the same format load too. Every loader returns data that is already validated.
Pickled files are read with :mod:`benchmarks.datasets._pickle`, never with ``allow_pickle=True``.

Memory: a training file of the release is 16540 x 4 x 17 x 100 float64 = 0.9 GB and is loaded whole (a pickle
cannot be memory-mapped or streamed); unpickling adds no second copy of the array. Selecting a subset of a file's
channels copies the selected part.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from model_registry.stimuli import Stimuli
from model_registry.storage.paths import data_dir

from .._pickle import NUMPY_ARRAY_GLOBALS, safe_load_npy_dict
from ..errors import DatasetFormatError, DatasetNotFoundError

if TYPE_CHECKING:
    import xarray
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

DATASET_NAME = "things-eeg2"
# visual angle of the images: "presented centrally with a visual angle of 7 degrees" (Gifford et al. 2022 p. 2, as
# Brain-Score's gifford2022 benchmark quotes it, VISUAL_DEGREES = 7). Used by the benchmark's place_on_screen=true;
# by default the benchmark shows images whole (the ReAlnet paper's protocol).
STIMULUS_DEGREES = 7.0
SPLITS: tuple[str, ...] = ("training", "test")
Split = Literal["training", "test"]
CHANNEL_NAMES: tuple[str, ...] = (
    "Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4", "PO8", "P6", "P2",
)
# The official release's channels (in its order), sampling rate and times; other files may differ (module docstring).
SAMPLING_RATE_HZ = 100.0
TIMES = np.arange(-20, 80) / SAMPLING_RATE_HZ  # (100,) seconds, -0.20 ... 0.79
TIMES_ATOL = 1e-6  # seconds: how far a file's times may stray from an even grid
MAX_SAMPLE_STEP = 0.25  # seconds between samples beyond which 'times' are taken to be milliseconds (4 Hz)
MAX_ABS_TIME = 100.0  # seconds from stimulus onset beyond which 'times' are taken to be milliseconds
EEG_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
RELEASE_N_IMAGES = {"training": 16540, "test": 200}
RELEASE_N_REPETITIONS = {"training": 4, "test": 80}
MIN_REPETITIONS = 2
EEG_MAX_ABS = 1e15  # |value| beyond this overflows float32 sums of squares (3.4e38) in the RDM methods
EEG_KEYS = ("preprocessed_eeg_data", "ch_names", "times")

_METADATA_PREFIX = {"training": "train", "test": "test"}
_SUBJECT_FOLDER = re.compile(r"^sub-(\d+)$")
_CONCEPT_FOLDER = re.compile(r"^\d+_.+$")


class ThingsEEG2FormatError(DatasetFormatError):
    """A THINGS-EEG2 file exists but does not hold what the official release holds."""


class ThingsEEG2NotFoundError(DatasetNotFoundError):
    """A THINGS-EEG2 folder or file is missing."""


# --------------------------------------------------------------------------------------------------------------
# paths


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset root: ``root`` if given, else ``$REALNET_DATA_DIR/things-eeg2``; it must exist."""
    path = Path(root).expanduser() if root is not None else data_dir(DATASET_NAME)
    if not path.is_dir():
        hint = "" if root is not None else " (set REALNET_DATA_DIR or pass root=...)"
        raise ThingsEEG2NotFoundError(
            f"THINGS-EEG2 root not found: {path}{hint}. Expected the official layout (image_metadata.npy, "
            "image_set/, preprocessed_data/); `realnet data synth things-eeg2 --out DIR` writes a synthetic one.")
    return path


def check_split(split: str) -> Split:
    """Return ``split`` if it is ``'training'`` or ``'test'``; raise ``ValueError`` naming the choices otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown THINGS-EEG2 split {split!r}; expected one of {list(SPLITS)}")
    return split  # type: ignore[return-value]


def subject_folder(subject: int, root: str | os.PathLike | None = None) -> Path:
    """``<root>/preprocessed_data/sub-XX``: the subject's existing folder however its number is padded (``sub-1``,
    ``sub-01``, ``sub-001`` all name subject 1), else the release's two-digit name."""
    subject = _check_subject(subject)
    root = resolve_root(root)
    folder = root / "preprocessed_data"
    found = _subject_folders(root) if folder.is_dir() else {}
    return found.get(subject, folder / f"sub-{subject:02d}")


def eeg_file(subject: int, split: str, root: str | os.PathLike | None = None) -> Path:
    """``<root>/preprocessed_data/sub-XX/preprocessed_eeg_<split>.npy`` (see :func:`subject_folder`)."""
    return subject_folder(subject, root) / f"preprocessed_eeg_{check_split(split)}.npy"


def _check_subject(subject: int) -> int:
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or subject < 1:
        raise ValueError(f"subject must be a positive integer (1 for sub-01), got {subject!r}")
    return int(subject)


def _subject_folders(root: Path) -> dict[int, Path]:
    """``{subject: folder}`` of the ``sub-<number>`` folders under ``<root>/preprocessed_data``.

    Any zero padding is accepted (``sub-1`` and ``sub-01`` are subject 1); two folders of one subject, or
    ``sub-0``, raise :class:`ThingsEEG2FormatError` naming them. Other entries are ignored.
    """
    folder = root / "preprocessed_data"
    if not folder.is_dir():
        raise ThingsEEG2NotFoundError(f"no preprocessed_data folder in {root} (expected {folder}/sub-XX/...)")
    found: dict[int, Path] = {}
    for entry in sorted(folder.iterdir()):
        match = _SUBJECT_FOLDER.match(entry.name)
        if not match or not entry.is_dir():
            continue
        subject = int(match.group(1))
        if subject < 1:
            raise ThingsEEG2FormatError(f"subject folder {entry}: subject numbers start at 1 (sub-01); rename it")
        if subject in found:
            raise ThingsEEG2FormatError(
                f"subject folders {found[subject]} and {entry} both name subject {subject}; keep one "
                f"(the release spells it sub-{subject:02d})")
        found[subject] = entry
    return dict(sorted(found.items()))  # by subject number, whatever the padding


def subject_folders_hint(root: str | os.PathLike | None = None) -> str:
    """What ``preprocessed_data`` holds instead of ``sub-XX`` folders (for a 'no subject' error)."""
    folder = resolve_root(root) / "preprocessed_data"
    if not folder.is_dir():
        return f"there is no folder {folder}"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    shown = ", ".join(entries[:8]) + (" ..." if len(entries) > 8 else "")
    return f"{folder} holds {shown or 'nothing'}; expected folders sub-01, sub-02, ..."


def available_subjects(root: str | os.PathLike | None = None, split: str | None = None) -> list[int]:
    """Subjects (1-based, sorted) whose folder holds the EEG file of ``split`` (either split if ``None``).

    Raises :class:`ThingsEEG2FormatError` for a ``sub-XX`` folder holding no EEG file at all (an incomplete
    download is better reported than silently skipped).
    """
    root = resolve_root(root)
    splits = SPLITS if split is None else (check_split(split),)
    subjects = []
    for subject, folder in _subject_folders(root).items():
        present = [s for s in SPLITS if (folder / f"preprocessed_eeg_{s}.npy").is_file()]
        if not present:
            raise ThingsEEG2FormatError(
                f"subject folder {folder} holds no EEG file (expected preprocessed_eeg_training.npy and/or "
                f"preprocessed_eeg_test.npy, found {sorted(p.name for p in folder.iterdir())}); "
                "complete or remove it")
        if any(s in present for s in splits):
            subjects.append(subject)
    return subjects


# --------------------------------------------------------------------------------------------------------------
# image metadata


@dataclass(frozen=True)
class ImageMetadata:
    """Image files and concept folders of both splits, in EEG order (``image_metadata.npy``).

    ``train_concepts_things`` / ``test_concepts_things`` carry the THINGS-database concept numbering of the
    release (``None`` if the file lacks those keys).
    """

    root: Path
    train_files: tuple[str, ...]
    train_concepts: tuple[str, ...]
    test_files: tuple[str, ...]
    test_concepts: tuple[str, ...]
    train_concepts_things: tuple[str, ...] | None = None
    test_concepts_things: tuple[str, ...] | None = None

    def files(self, split: str) -> tuple[str, ...]:
        """Image file names of ``split`` (e.g. ``aircraft_carrier_06s.jpg``), in EEG order."""
        return self.train_files if check_split(split) == "training" else self.test_files

    def concepts(self, split: str) -> tuple[str, ...]:
        """Concept folder of each image of ``split`` (e.g. ``00001_aircraft_carrier``), in EEG order."""
        return self.train_concepts if check_split(split) == "training" else self.test_concepts

    def n_images(self, split: str) -> int:
        """Number of images (EEG conditions) in ``split``."""
        return len(self.files(split))

    def stimulus_ids(self, split: str) -> tuple[str, ...]:
        """Unique stimulus id of each image of ``split``: the file stem (``aircraft_carrier_06s``)."""
        return tuple(Path(name).stem for name in self.files(split))

    def image_paths(self, split: str) -> list[Path]:
        """``<root>/image_set/<split>_images/<concept>/<file>`` for each image, in EEG order (not checked)."""
        folder = self.root / "image_set" / f"{check_split(split)}_images"
        return [folder / concept / name for concept, name in zip(self.concepts(split), self.files(split))]


def metadata_file(root: str | os.PathLike | None = None) -> Path:
    """``<root>/image_metadata.npy``."""
    return resolve_root(root) / "image_metadata.npy"


def load_image_metadata(root: str | os.PathLike | None = None) -> ImageMetadata:
    """Read and validate ``image_metadata.npy``: string lists per split, matching lengths, unique file stems."""
    path = metadata_file(root)
    if not path.is_file():
        raise ThingsEEG2NotFoundError(f"image metadata not found: {path} (ships with the THINGS-EEG2 release)")
    content = safe_load_npy_dict(path, allowed=NUMPY_ARRAY_GLOBALS)
    fields = {}
    for split, prefix in _METADATA_PREFIX.items():
        for kind in ("files", "concepts"):
            fields[f"{prefix}_{kind}"] = _string_list(content, f"{prefix}_img_{kind}", path, required=True)
        fields[f"{prefix}_concepts_things"] = _string_list(content, f"{prefix}_img_concepts_THINGS", path,
                                                           required=False)
        n_files = len(fields[f"{prefix}_files"])
        if n_files == 0:
            raise ThingsEEG2FormatError(f"{path}: '{prefix}_img_files' is empty; expected one entry per {split} image")
        for key, stored in ((f"{prefix}_concepts", f"{prefix}_img_concepts"),
                            (f"{prefix}_concepts_things", f"{prefix}_img_concepts_THINGS")):
            values = fields[key]
            if values is not None and len(values) != n_files:
                raise ThingsEEG2FormatError(f"{path}: {len(values)} entries in '{stored}' for {n_files} in "
                                            f"'{prefix}_img_files'; expected equal lengths")
        bad = [c for c in fields[f"{prefix}_concepts"] if not _CONCEPT_FOLDER.match(c) or "/" in c]
        if bad:
            raise ThingsEEG2FormatError(f"{path}: '{prefix}_img_concepts' holds {bad[:3]!r}; expected concept "
                                        "folder names like '00001_aircraft_carrier'")
        bad = [f for f in fields[f"{prefix}_files"] if "/" in f or "\\" in f or f in ("", ".", "..")]
        if bad:
            raise ThingsEEG2FormatError(f"{path}: '{prefix}_img_files' holds {bad[:3]!r}; expected bare file names")
    stems = [Path(f).stem for f in fields["train_files"] + fields["test_files"]]
    if len(set(stems)) != len(stems):
        seen, repeated = set(), []
        for stem in stems:
            if stem in seen:
                repeated.append(stem)
            seen.add(stem)
        raise ThingsEEG2FormatError(f"{path}: image file stems must be unique over both splits; "
                                    f"repeated: {repeated[:5]}")
    for split, prefix in _METADATA_PREFIX.items():
        check_image_order(fields[f"{prefix}_files"], fields[f"{prefix}_concepts"], split, path)
    return ImageMetadata(root=path.parent, **fields)


def release_metadata_path() -> Path | None:
    """The release's ``image_metadata.npy`` as shipped in the brainscore-vision wheel
    (``brainscore_vision/data/gifford2022/data_packaging/``), or ``None`` if brainscore-vision is not installed."""
    spec = importlib.util.find_spec("brainscore_vision")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "gifford2022" / "data_packaging" / \
        "image_metadata.npy"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def release_image_lists() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None:
    """``{split: (files, concepts)}`` of the release, read once from :func:`release_metadata_path` (``None``
    without brainscore-vision)."""
    path = release_metadata_path()
    if path is None:
        return None
    content = safe_load_npy_dict(path, allowed=NUMPY_ARRAY_GLOBALS)
    return {split: (tuple(content[f"{prefix}_img_files"]), tuple(content[f"{prefix}_img_concepts"]))
            for split, prefix in _METADATA_PREFIX.items()}


def check_image_order(files: Sequence[str], concepts: Sequence[str], split: str, path: str | os.PathLike) -> None:
    """Refuse image lists whose order is not the one the EEG rows follow; ``path`` names the file in errors.

    - Lists holding the release's images (any file name found in the release's list of ``split``): with the
      release's length they must equal the release's lists row for row; shorter lists must keep the release's
      (concept folder, file) rows in the release's order.
    - Other lists (e.g. synthetic data in the release's format) must follow the release's ordering rule, which is
      the sorted ``image_set/<split>_images`` listing: each concept folder one contiguous run of rows, folder
      numbers (``00001_...``) increasing from run to run, file names strictly increasing (Python string order)
      within a concept.

    Raises :class:`ThingsEEG2FormatError` naming ``path`` and the first row out of order.
    """
    prefix = _METADATA_PREFIX[check_split(split)]
    label = f"'{prefix}_img_concepts' / '{prefix}_img_files'"
    consequence = ("the EEG rows follow the release's image order, so this file would pair EEG rows with the wrong "
                   "images; restore the release's image_metadata.npy")
    release = release_image_lists()
    if release is not None:
        release_files, release_concepts = release[split]
        if not set(files).isdisjoint(release_files):
            if len(files) == len(release_files):
                for row, (concept, name) in enumerate(zip(concepts, files)):
                    if (concept, name) != (release_concepts[row], release_files[row]):
                        raise ThingsEEG2FormatError(
                            f"{path}: row {row} of {label} is {concept}/{name} but the THINGS-EEG2 release has "
                            f"{release_concepts[row]}/{release_files[row]} there ({release_metadata_path()}); "
                            f"{consequence}")
                return
            position = {key: row for row, key in enumerate(zip(release_concepts, release_files))}
            previous = -1
            for row, key in enumerate(zip(concepts, files)):
                where = position.get(key)
                if where is None or where <= previous:
                    reason = ("is not an image of the release's " + split + " split" if where is None else
                              f"comes before row {row - 1} ({concepts[row - 1]}/{files[row - 1]}) in the release")
                    raise ThingsEEG2FormatError(
                        f"{path}: row {row} of {label} ({key[0]}/{key[1]}) {reason}; a subset of the release must "
                        f"keep the release's rows in the release's order ({release_metadata_path()}); {consequence}")
                previous = where
            return
    finished: set[str] = set()
    for row in range(1, len(files)):
        before, concept = concepts[row - 1], concepts[row]
        if concept == before:
            if files[row] > files[row - 1]:
                continue
            reason = (f"file {files[row]!r} does not sort after {files[row - 1]!r} (files of a concept are listed "
                      "sorted by name)")
        else:
            finished.add(before)
            if concept not in finished and _concept_number(concept) > _concept_number(before):
                continue
            reason = (f"concept folder {concept!r} " + ("appeared before" if concept in finished else
                                                        f"is not numbered after {before!r}")
                      + " (each concept folder is one run of rows, folders in increasing number)")
        raise ThingsEEG2FormatError(
            f"{path}: row {row} of {label} ({concept}/{files[row]}) is out of the release's order: {reason}. "
            "THINGS-EEG2 lists images as the sorted image_set listing (concept folders by number, files sorted "
            "within each concept) and the EEG rows follow that order, so this file would pair EEG rows with the "
            "wrong images; write the lists in that order")


def _concept_number(concept: str) -> int:
    return int(concept.split("_", 1)[0])


def _string_list(content: dict, key: str, path: Path, required: bool) -> tuple[str, ...] | None:
    if key not in content:
        if required:
            raise ThingsEEG2FormatError(f"{path}: key '{key}' missing; found keys {sorted(content)}")
        return None
    values = content[key]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ThingsEEG2FormatError(f"{path}: '{key}' must be a list of strings, found {type(values).__name__}"
                                    + (f" holding {type(values[0]).__name__}" if isinstance(values, list) else ""))
    return tuple(values)


def image_paths(split: str, root: str | os.PathLike | None = None, check: bool = True) -> list[Path]:
    """Image file of every EEG condition of ``split``, in EEG order; ``check`` raises if any is missing."""
    metadata = load_image_metadata(root)
    paths = metadata.image_paths(split)
    if check:
        _check_images_exist(paths, metadata.root, split)
    return paths


def _check_images_exist(paths: Sequence[Path], root: Path, split: str) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        folder = root / "image_set" / f"{split}_images"
        hint = " (the folder itself is missing)" if not folder.is_dir() else ""
        shown = ", ".join(str(p.relative_to(root)) for p in missing[:5])
        raise ThingsEEG2NotFoundError(
            f"{len(missing)} of {len(paths)} {split} images listed in {root / 'image_metadata.npy'} are missing "
            f"under {folder}{hint}: {shown}{' ...' if len(missing) > 5 else ''}. THINGS images are licensed; "
            "place your copy there in the release layout (<00001_concept>/<file>.jpg)")


def stimulus_ids(split: str, root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Unique stimulus id (image file stem) of every EEG condition of ``split``, in EEG order."""
    return load_image_metadata(root).stimulus_ids(split)


def stimuli(split: str, root: str | os.PathLike | None = None) -> Stimuli:
    """The images of ``split`` as :class:`model_registry.stimuli.Stimuli` (ids = file stems), in EEG order."""
    metadata = load_image_metadata(root)
    paths = metadata.image_paths(split)
    _check_images_exist(paths, metadata.root, split)
    return Stimuli(metadata.stimulus_ids(split), tuple(paths))


def stimulus_set(split: str = "test", root: str | os.PathLike | None = None) -> StimulusSet:
    """A Brain-Score ``StimulusSet`` of ``split`` in EEG order: columns ``stimulus_id``, ``concept``, ``image_file``,
    ``.stimulus_paths`` (id -> Path) and ``.identifier`` = ``things_eeg2_<split>_<sha256 of ids+image bytes>[:12]``,
    so a different image set never shares an identifier (Brain-Score caches by identifier). Hashing reads every
    image once (quick for the 200 test images, a few seconds for the 16540 training images).
    """
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    metadata = load_image_metadata(root)
    paths = metadata.image_paths(split)
    _check_images_exist(paths, metadata.root, split)
    ids = metadata.stimulus_ids(split)
    frame = StimulusSet({"stimulus_id": list(ids), "concept": list(metadata.concepts(split)),
                         "image_file": list(metadata.files(split))})
    frame.stimulus_paths = dict(zip(ids, paths))
    digest = Stimuli(ids, tuple(paths)).content_hash()
    frame.identifier = f"things_eeg2_{split}_{digest[:12]}"
    return frame


# --------------------------------------------------------------------------------------------------------------
# EEG


Channels = Sequence[str] | Literal["all"] | None


@dataclass(frozen=True)
class EEGSubject:
    """One subject's preprocessed EEG of one split, validated, with its images in EEG order.

    ``data``: (n_images, n_repetitions, n_channels, n_times) float64 or float32 (as stored), image order =
    ``image_files``, channels = ``ch_names`` (the selected ones, in that order; the file's own list is
    ``file_ch_names``). ``times``: (n_times,) seconds relative to image onset, evenly spaced (the release:
    17 channels, 100 times -0.20 ... 0.79 s at 100 Hz).
    """

    subject: int
    split: str
    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: tuple[str, ...]
    concepts: tuple[str, ...]
    image_paths: tuple[Path, ...]
    source: Path
    file_ch_names: tuple[str, ...] = ()

    @property
    def n_images(self) -> int:
        return self.data.shape[0]

    @property
    def n_repetitions(self) -> int:
        return self.data.shape[1]

    @property
    def sampling_rate_hz(self) -> float:
        """Samples per second, from ``times``."""
        return sampling_rate(self.times)

    @property
    def stimulus_ids(self) -> tuple[str, ...]:
        """Image file stems, unique, in EEG order."""
        return tuple(Path(name).stem for name in self.image_files)

    def to_dataarray(self) -> xarray.DataArray:
        """The data as an ``xarray.DataArray`` with dims (presentation, repetition, neuroid, time); no copy."""
        import xarray as xr

        return xr.DataArray(
            self.data, dims=("presentation", "repetition", "neuroid", "time"),
            coords={"stimulus_id": ("presentation", list(self.stimulus_ids)),
                    "concept": ("presentation", list(self.concepts)),
                    "image_file": ("presentation", list(self.image_files)),
                    "repetition": np.arange(self.n_repetitions),
                    "channel": ("neuroid", list(self.ch_names)),
                    "time": self.times},
            attrs={"subject": self.subject, "split": self.split, "source": str(self.source)},
            name=f"things_eeg2_sub-{self.subject:02d}_{self.split}")


def sampling_rate(times: np.ndarray) -> float:
    """Sampling rate in Hz of evenly spaced ``times`` (seconds): ``(n - 1) / (times[-1] - times[0])``."""
    times = np.asarray(times, dtype=np.float64)
    return float((len(times) - 1) / (times[-1] - times[0]))


def select_channels(ch_names: Sequence[str], channels: Channels = None,
                    source: str | os.PathLike = "the EEG file") -> tuple[int, ...]:
    """Indices into ``ch_names`` of the channels to use, in the order they will have.

    ``channels``: ``None`` (default) = the release's 17 posterior channels (:data:`CHANNEL_NAMES`, in that order)
    when the file holds all of them, else all of the file's channels in file order; ``'all'`` = all of the file's
    channels; a sequence of names = those channels in that order. Raises ``ValueError`` naming ``source`` for
    unknown or repeated names.
    """
    ch_names = list(ch_names)
    if channels is None:
        if set(CHANNEL_NAMES) <= set(ch_names):
            return tuple(ch_names.index(name) for name in CHANNEL_NAMES)
        return tuple(range(len(ch_names)))
    if isinstance(channels, str):
        if channels != "all":
            raise ValueError(f"channels must be None, 'all' or a sequence of channel names, got {channels!r}")
        return tuple(range(len(ch_names)))
    requested = list(channels)
    if not requested or not all(isinstance(name, str) for name in requested):
        raise ValueError(f"channels must be a non-empty sequence of channel names, got {channels!r}")
    repeated = sorted({name for name in requested if requested.count(name) > 1})
    if repeated:
        raise ValueError(f"channels lists {repeated} more than once; expected distinct channel names")
    missing = [name for name in requested if name not in ch_names]
    if missing:
        raise ValueError(f"{source}: channels {missing} are not among its {len(ch_names)} channels {ch_names}")
    return tuple(ch_names.index(name) for name in requested)


def load_subject(subject: int, split: str, root: str | os.PathLike | None = None, *,
                 check_images: bool = True, channels: Channels = None,
                 metadata: ImageMetadata | None = None) -> EEGSubject:
    """Load and validate ``preprocessed_eeg_<split>.npy`` of ``subject`` (1 = sub-01), keeping ``channels``.

    Checks: ``image_metadata.npy`` (see :func:`load_image_metadata`, including the image order), the dict keys,
    ``preprocessed_eeg_data`` 4-d float64 or float32 of shape (n_images from image_metadata, >= 2 repetitions,
    len(ch_names), len(times)), all values finite, ``ch_names`` distinct strings, ``times`` evenly spaced and
    increasing; with ``check_images`` every image file listed for ``split`` must exist. ``channels``: see
    :func:`select_channels`. ``metadata``: the root's already loaded :func:`load_image_metadata` (read again when
    ``None``). Errors (:class:`ThingsEEG2FormatError`, :class:`ThingsEEG2NotFoundError`,
    ``ValueError`` for ``channels``) name the file and what was expected.
    """
    split = check_split(split)
    root = resolve_root(root)
    subject = _check_subject(subject)
    folders = _subject_folders(root)
    if subject not in folders:
        found = ", ".join(folders[s].name for s in folders) or f"none ({subject_folders_hint(root)})"
        raise ThingsEEG2NotFoundError(f"subject {subject} not found: no folder {root / 'preprocessed_data'}/"
                                      f"sub-{subject:02d}; subjects found: {found}")
    path = folders[subject] / f"preprocessed_eeg_{split}.npy"
    if not path.is_file():
        present = sorted(p.name for p in folders[subject].iterdir())
        raise ThingsEEG2NotFoundError(f"EEG file missing: {path}; the subject folder holds {present or 'nothing'}")
    metadata = metadata if metadata is not None else load_image_metadata(root)
    paths = metadata.image_paths(split)
    if check_images:
        _check_images_exist(paths, metadata.root, split)
    content = safe_load_npy_dict(path, allowed=NUMPY_ARRAY_GLOBALS)
    data, file_ch_names, times = _validate_eeg(content, path, metadata.n_images(split), split,
                                               root / "image_metadata.npy")
    index = select_channels(file_ch_names, channels, path)
    if index != tuple(range(len(file_ch_names))):
        data = data[:, :, list(index)]  # (N, R, C_selected, T), a copy
    return EEGSubject(subject=subject, split=split, data=data, ch_names=tuple(file_ch_names[i] for i in index),
                      times=times, image_files=metadata.files(split), concepts=metadata.concepts(split),
                      image_paths=tuple(paths), source=path, file_ch_names=file_ch_names)


def _validate_eeg(content: dict, path: Path, n_images: int, split: str = "test",
                  metadata_path: Path | None = None) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Check an EEG file's dict; returns (data as stored, ch_names, times float64)."""
    missing = [key for key in EEG_KEYS if key not in content]
    if missing:
        raise ThingsEEG2FormatError(f"{path}: keys {missing} missing; expected {list(EEG_KEYS)}, "
                                    f"found {sorted(content)}")
    data = content["preprocessed_eeg_data"]
    expected = f"(n_images={n_images}, n_repetitions>={MIN_REPETITIONS}, n_channels, n_times)"
    if not isinstance(data, np.ndarray):
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' is a {type(data).__name__}; expected an "
                                    f"array {expected}")
    if data.dtype not in EEG_DTYPES:
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' has dtype {data.dtype}; expected float64 "
                                    "(as the release) or float32")
    if data.ndim != 4:
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' has {data.ndim} dimensions, shape "
                                    f"{data.shape}; expected 4: {expected}")
    if data.shape[0] != n_images:
        listed = metadata_path or "image_metadata.npy"
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' has shape {data.shape}; expected {expected}: "
                                    f"{listed} lists {n_images} {split} images but the file holds {data.shape[0]}; "
                                    "EEG and metadata must describe the same images")
    if data.shape[1] < MIN_REPETITIONS or data.shape[2] < 1 or data.shape[3] < 2:
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' has shape {data.shape}; expected {expected} "
                                    "with at least 1 channel and 2 times")
    ch_names = content["ch_names"]
    ch_names = ch_names.tolist() if isinstance(ch_names, np.ndarray) else ch_names
    if not isinstance(ch_names, (list, tuple)) or not all(isinstance(name, str) and name for name in ch_names):
        raise ThingsEEG2FormatError(f"{path}: 'ch_names' must be a list of channel names, found {ch_names!r:.200}")
    ch_names = tuple(ch_names)
    if len(ch_names) != data.shape[2]:
        raise ThingsEEG2FormatError(f"{path}: 'ch_names' lists {len(ch_names)} channels but "
                                    f"'preprocessed_eeg_data' has {data.shape[2]} (shape {data.shape})")
    repeated = sorted({name for name in ch_names if ch_names.count(name) > 1})
    if repeated:
        raise ThingsEEG2FormatError(f"{path}: 'ch_names' holds {repeated} more than once; expected distinct names")
    times = _validate_times(content["times"], path, data.shape[3])
    _check_finite(data, path)
    _check_scale(data, path)
    return data, ch_names, times


def _validate_times(times, path: Path, n_times: int) -> np.ndarray:
    """``times`` as float64 ``(n_times,)`` seconds, rounded to the microsecond: finite, increasing, evenly spaced
    within :data:`TIMES_ATOL` s, not in milliseconds (a step above :data:`MAX_SAMPLE_STEP` s or a time beyond
    :data:`MAX_ABS_TIME` s is refused, naming the likely unit)."""
    times = np.asarray(times)
    numeric = np.issubdtype(times.dtype, np.integer) or np.issubdtype(times.dtype, np.floating)
    if not numeric or times.ndim != 1 or times.shape[0] != n_times or not np.isfinite(times).all():
        found = (f"{times.shape[0]} values" if times.ndim == 1 else f"shape {times.shape}") + f" of {times.dtype}"
        raise ThingsEEG2FormatError(f"{path}: 'times' holds {found}; expected {n_times} finite times in seconds, "
                                    "one per sample of 'preprocessed_eeg_data'")
    times = times.astype(np.float64)
    step = (times[-1] - times[0]) / (n_times - 1) if n_times > 1 else 0.0
    if step > MAX_SAMPLE_STEP or np.abs(times).max() > MAX_ABS_TIME:
        raise ThingsEEG2FormatError(
            f"{path}: 'times' run from {times[0]:g} to {times[-1]:g} in steps of {step:g}, which as seconds is no EEG "
            "epoch: they look like milliseconds (as EEGLAB exports them); THINGS-EEG2 stores seconds: divide them by "
            "1000")
    grid = times[0] + step * np.arange(n_times)
    worst = int(np.argmax(np.abs(times - grid)))
    if not step > 0 or abs(times[worst] - grid[worst]) > TIMES_ATOL:
        raise ThingsEEG2FormatError(
            f"{path}: 'times' ({n_times} values from {times[0]:.4f} to {times[-1]:.4f} s) are not increasing "
            f"evenly (sample {worst} at {times[worst]:.6f} s, expected {grid[worst]:.6f} s); expected one time per "
            "sample at a fixed sampling rate")
    # on the microsecond grid (well inside TIMES_ATOL): float32 times (0.1 stored as 0.10000000149) then equal the
    # float64 ones, so windows and the smoothing length do not depend on the file's dtype
    return np.round(times, 6)


def _check_finite(data: np.ndarray, path: Path, block: int = 1024) -> None:
    """Raise on NaN/inf; checks ``block`` images at a time to keep the boolean mask small."""
    n_bad, first = 0, None
    for start in range(0, data.shape[0], block):
        finite = np.isfinite(data[start:start + block])
        if not finite.all():
            n_bad += int(finite.size - np.count_nonzero(finite))
            if first is None:
                index = np.argwhere(~finite)[0]
                first = (int(index[0]) + start, *(int(i) for i in index[1:]))
    if n_bad:
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' holds {n_bad} NaN/infinite values, the first "
                                    f"at (image, repetition, channel, time) = {first}; expected finite values")


def _check_scale(data: np.ndarray, path: Path, block: int = 1024) -> None:
    """Raise on finite values beyond :data:`EEG_MAX_ABS` (their squares overflow the float32 sums of the RDM
    methods) and on an all-zero array, naming the file; ``block`` images at a time."""
    largest = 0.0
    for start in range(0, data.shape[0], block):
        largest = max(largest, float(np.abs(data[start:start + block]).max()))
    if largest > EEG_MAX_ABS:
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(data))), data.shape))
        raise ThingsEEG2FormatError(
            f"{path}: 'preprocessed_eeg_data' holds {largest:.3g} at (image, repetition, channel, time) = {index}; "
            f"expected values within +-{EEG_MAX_ABS:.0e} (larger ones overflow the RDM computations; is the file "
            "in its original units?)")
    if largest == 0.0:
        raise ThingsEEG2FormatError(f"{path}: 'preprocessed_eeg_data' is all zeros (shape {data.shape}); expected "
                                    "recorded EEG (an incomplete export?)")
