"""``things-eeg-rsa[-<method>]``: time-resolved RSA between model layers and THINGS-EEG2 test-set EEG.

Per subject, layer and EEG time point: Spearman (or tau-a / Pearson) between the model RDM (1 - Pearson over the
flattened layer outputs of the test images) and the subject's EEG RDM at that time (default ``decoding-svm``,
the paper's protocol). Noise ceiling per time point from the subjects' EEG RDMs; cluster permutation tests of
similarity > 0 per layer. Scalar = mean over the window (default 0-500 ms) of the best layer's subject-averaged
similarity, divided by the mean lower noise ceiling over that window.

Everything time-dependent comes from the EEG files' own times: the time axis, the window's samples, the cluster
time axis and, for the decoding methods, the moving-average window (:func:`smoothing_samples`: 50 ms, i.e. the
paper's 5 samples at 100 Hz, 13 at 250 Hz) unless ``method_params`` sets ``smooth_window``. Channels are chosen by
name (``channels``, see :func:`benchmarks.datasets.things_eeg2.data.select_channels`); all subjects must share times and
channels.

Before any model runs, :meth:`ThingsEEGRsaBenchmark.validate` (called by ``__call__`` and by
:func:`realnet_plugin.score` before the model is loaded) checks the metadata (image order), the test images, every
subject's EEG file (also when the EEG RDMs come from the cache), the subject count the noise ceiling needs, the
scored subjects, and that the EEG RDM method's protocol fits the files (decoding: ``navg`` x ``n_folds``
repetitions). Options are checked when the benchmark is built (:data:`OPTIONS`, :func:`options_table`).

Visual degrees: the images were shown at 7 degrees (:data:`.data.STIMULUS_DEGREES`). By default
(``place_on_screen=false``), as in the ReAlnet paper, each model sees the whole image, resized by its preprocessing;
``place_on_screen=true`` places the images on the model's visual field as Brain-Score does (``Stimuli`` carrying
7 degrees, :func:`benchmarks.model_features.layer_features`: a model of 8 degrees sees each image pasted centred on
a grey canvas 8/7 as wide). ``attrs`` record ``place_on_screen``, ``stimulus_degrees`` and, for models that ran,
``model_visual_degrees``.

Noise ceiling: it needs >= 2 subjects; with fewer the benchmark refuses to score unless ``ceiling=False``, which
makes the scalar the raw (unceiled) similarity. A lower ceiling <= 0 over the window is an error for the same reason
(a ceiled score would be meaningless); ``ceiling=False`` then gives the raw similarity.

Undefined time points: an EEG RDM that is NaN or constant at a time point (e.g. a flat EEG sample) has no
similarity there. It is NaN in ``similarity`` (for that subject), in the noise ceiling and in the subject mean at
that time, a :class:`UndefinedTimeWarning` names subject, times and file, clusters skip it, and the score and its
ceiling are means over the window's time points that are defined for every scored subject and for the ceiling
(``attrs['left_out_times']`` lists the others). An undefined model RDM (e.g. a constant layer) is an error naming
the model and layer.
"""
from __future__ import annotations

import difflib
import inspect
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from model_registry.catalog import REALNET_ID
from model_registry.stimuli import Stimuli
from model_registry.storage.array_cache import ArrayCache
from model_registry.storage.file_identity import file_stamp, stamped_digest

from .. import options as opt
from ..datasets.things_eeg2 import data as eeg_data
from ..model_features import ModelRDMs, candidate_rdms, check_headers, default_layers, model_visual_degrees, shown_at
from ..rdm_cache import cached_rdms, rdm_cache_key
from ..rsa import (
    EEG_RDM_METHODS,
    ModelImprovement,
    bootstrap_similarity,
    cluster_permutation_test,
    compare,
    compare_models_over_time,
    eeg_rdms,
    noise_ceiling,
    paired_cluster_test,
)
from ..rsa.compare import METHODS as COMPARISONS
from ..rsa.compare import RankedRDMs, undefined_rows
from ..rsa.decoding_plan import check_protocol

BIBTEX = """@article{lu2024realnet,
  title={Achieving more human brain-like vision via human EEG representational alignment},
  author={Lu, Zitong and Wang, Yile and Golomb, Julie D}, journal={arXiv preprint arXiv:2401.17231}, year={2024}}
@article{gifford2022large,
  title={A large and rich EEG dataset for modeling human visual object recognition},
  author={Gifford, Alessandro T and Dwivedi, Kshitij and Roig, Gemma and Cichy, Radoslaw M},
  journal={NeuroImage}, volume={264}, pages={119754}, year={2022}}"""
DEFAULT_METHOD = "decoding-svm"
# validated EEG kept in memory between validate() and eeg() on RDM cache misses: one release-sized subject (218 MB),
# not all of them (re-reading a file costs well under a second; ten held files cost 2 GB of peak memory)
KEEP_VALIDATED_BYTES = 256 << 20
# the EEG RDMs' ranks and noise ceiling in the RDM cache (keyed by the RDMs' content): bump when the numerics of
# RankedRDMs or noise_ceiling change (2: leave-one-out means summed directly, ties kept exact)
PREPARED_EEG_CODE_VERSION = 2
# a cache entry back as a RankedRDMs (bound here: the tests count rankings by replacing the name RankedRDMs)
_ranked_from_arrays = RankedRDMs.from_arrays
DECODING_METHODS = ("decoding-svm", "decoding-lda")
SMOOTHING_SECONDS = 0.05  # the paper's moving average: 5 samples at 100 Hz
SMALL_CEILING = 0.05  # a positive lower noise ceiling below this makes the ceiled score mostly noise: warned


class UndefinedTimeWarning(RuntimeWarning):
    """A subject's EEG RDM is undefined (NaN or constant) at some time points; they are left out of the score."""


def smoothing_samples(sampling_rate_hz: float) -> int:
    """The odd number of samples nearest to :data:`SMOOTHING_SECONDS` (a centred moving average) at
    ``sampling_rate_hz``: 5 at 100 Hz (the paper), 13 at 250 Hz, 1 below 30 Hz."""
    if not sampling_rate_hz > 0:
        raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz!r}")
    return 2 * int(np.floor(SMOOTHING_SECONDS * sampling_rate_hz / 2 + 1e-9)) + 1


# --- options ------------------------------------------------------------------------------------------------------
_METHOD_PARAM_CHECKS: dict[str, Callable] = {
    "navg": opt.integer(1), "n_folds": opt.integer(2), "n_repeats": opt.integer(1), "n_iter": opt.integer(1),
    "smooth_window": opt.integer(1), "seed": opt.integer(0), "n_threads": opt.optional(opt.integer(1)),
    "c": opt.number(positive=True), "folds_per_time": opt.boolean, "backend": opt.string,
    "device": opt.optional(opt.string),
    "shrinkage": opt.either(opt.choice(["ledoit-wolf"]), opt.number(0.0, 1.0)),
}


def method_parameters(method: str) -> list[str]:
    """The parameters the EEG RDM method ``method`` takes (``method_params`` keys), in signature order."""
    return [name for name in inspect.signature(EEG_RDM_METHODS[method]).parameters if name != "data"]


def _method_params_check(method: str) -> Callable:
    accepted = method_parameters(method)

    def check(value) -> None:
        opt.mapping(value)
        for key, item in value.items():
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
                raise ValueError(f"{method} takes no parameter {key!r}" + (f"; did you mean {close[0]}?" if close
                                                                             else ""))
            if key in _METHOD_PARAM_CHECKS:
                try:
                    _METHOD_PARAM_CHECKS[key](item)
                except (ValueError, TypeError) as error:
                    raise ValueError(f"{key}={item!r}: {error}") from None
    return check


def options_table(method: str = DEFAULT_METHOD) -> dict[str, opt.Option]:
    """``{option: Option}`` of ``things-eeg-rsa[-<method>]`` (the keyword options of
    :class:`ThingsEEGRsaBenchmark`; ``method`` comes from the id)."""
    params = method_parameters(method)
    return {
        "root": opt.Option("the THINGS-EEG2 folder (a path string)", "/data/things-eeg2", opt.optional(opt.path)),
        "subjects": opt.Option("a list of subject numbers (1 = sub-01)", [1, 2], opt.optional(opt.positive_int_list)),
        "layers": opt.Option("a list of layer names", ["V4", "IT"], opt.optional(opt.string_list)),
        "window": opt.Option("[start, end] in seconds with start < end", [0.0, 0.5], opt.number_pair),
        "comparison": opt.Option(f"one of {', '.join(COMPARISONS)}", "spearman", opt.choice(COMPARISONS)),
        "n_permutations": opt.Option("an integer >= 0 (0: no cluster test)", 1000, opt.integer(0)),
        "match_subject": opt.Option("true or false", True, opt.boolean),
        "method_params": opt.Option(f"a dict of {method} parameters ({', '.join(params) or 'none'})",
                                    {"navg": 5} if "navg" in params else {},
                                    opt.optional(_method_params_check(method))),
        "cache": opt.Option("true or false", True, opt.boolean),
        "seed": opt.Option("an integer >= 0 (the cluster permutations and the bootstrap; a decoding method's own "
                           "draw of pseudo-trials and folds is method_params.seed)", 0, opt.integer(0)),
        "score_subjects": opt.Option("a list of subject numbers (1 = sub-01)", [1],
                                     opt.optional(opt.positive_int_list)),
        "n_bootstrap": opt.Option("an integer >= 0 (0: no confidence intervals)", 1000, opt.integer(0)),
        "channels": opt.Option("'all' or a list of channel names", ["O1", "Oz", "O2"],
                               opt.optional(opt.either(opt.string_list, opt.choice(["all"])))),
        "ceiling": opt.Option("true (score / noise ceiling, needs >= 2 subjects) or false (raw similarity)", False,
                              opt.boolean),
        "cluster_window": opt.Option("[start, end] in seconds with start < end, or 'all' (default: the window)",
                                     [-0.1, 0.49], opt.optional(opt.either(opt.number_pair, opt.choice(["all"])))),
        "min_cluster_length": opt.Option("an integer >= 1 (1: every cluster, as MNE; 2: NeuroRA's rule)", 2,
                                         opt.integer(1)),
        "place_on_screen": opt.Option("true (place the images on the model's visual field, as Brain-Score) or "
                                      "false (the whole image resized, the ReAlnet paper's protocol)", True,
                                      opt.boolean),
    }


def options_for(identifier: str) -> dict[str, opt.Option]:
    """:func:`options_table` of the method the id ``things-eeg-rsa[-<method>]`` names (unknown methods: the
    default's table; the constructor names the unknown method)."""
    method = identifier[len("things-eeg-rsa-"):] if identifier.startswith("things-eeg-rsa-") else DEFAULT_METHOD
    return options_table(method if method in EEG_RDM_METHODS else DEFAULT_METHOD)


@dataclass(frozen=True)
class EEGInputs:
    """What :meth:`ThingsEEGRsaBenchmark.validate` checked: subjects, their EEG files, the shared time axis and
    channels, and the image count."""

    subjects: list[int]
    sources: dict[int, Path]
    times: np.ndarray
    ch_names: tuple[str, ...]
    n_images: int
    n_repetitions: int  # the fewest over the subjects


class ThingsEEGRsaBenchmark(BenchmarkBase):
    """Time-resolved EEG RSA on the THINGS-EEG2 test images (see module docstring).

    ``match_subject``: score a model trained on subject X (its spec or ``subject`` attribute says so,
    :func:`model_subject`) only against subject X's EEG (as the paper does; a ``realnet-fmri_*`` model's subject is a
    THINGS-fMRI one: it meets every EEG subject); ``score_subjects``: compare every other model with these subjects
    only (the noise ceiling still uses all subjects). A model with a subject under
    ``match_subject=True`` and a ``score_subjects`` other than ``[X]`` is an error, not a silent choice.
    ``identifier``: the id the benchmark was asked by (``things-eeg-rsa`` or ``things-eeg-rsa-<method>``).
    One object scores many models: its data are read and validated once, the EEG RDMs ranked and the noise
    ceiling computed once (see :meth:`validate`); it is safe to share between threads.
    ``n_bootstrap`` > 0 adds bootstrap confidence intervals (images and subjects resampled) of the best layer's
    subject-mean similarity time course as ``similarity_ci_low`` / ``similarity_ci_high``, of the scalar ``raw``
    (its window mean) as ``raw_ci_low`` / ``raw_ci_high`` and of the score as ``score_ci_low`` / ``score_ci_high``
    (the raw interval divided by the fixed noise ceiling when ceiled; equal to the raw one otherwise).
    ``method_params`` go to the EEG RDM method (e.g. ``{'seed': 1}`` for decoding).
    ``channels``: EEG channels by name (``None``: the release's 17 posterior channels when a file holds them all,
    else all of its channels; ``'all'``; or a list of names).
    ``ceiling``: ``True`` (default) divides by the noise ceiling and needs >= 2 subjects; ``False`` gives the raw
    similarity as the scalar (``attrs['ceiled']`` says which).
    ``cluster_window``: the time span ``[start, end]`` s the cluster tests run over (``None``, the default: the
    scoring ``window``; ``'all'``: every EEG time point). The paper analyses -0.1 ... 0.49 s: pass
    ``window=[-0.1, 0.49]`` (clusters then follow it). Clusters are searched only inside it, so the permutation
    null distribution is over the same span.
    ``min_cluster_length``: clusters shorter than this many time points are dropped after the test (default 1:
    none, MNE's test as it is, whose p values keep their family-wise meaning; 2: NeuroRA's rule, as the paper's
    figures; see :func:`benchmarks.rsa.stats.cluster_permutation_test`).
    :meth:`score_family` scores subject-specific models (one per subject) as one group result.
    ``place_on_screen``: see the module docstring (visual degrees).
    Every option is checked here against :func:`options_table` (:class:`benchmarks.options.BenchmarkOptionError`,
    one line naming the option and its expected form); data are checked by :meth:`validate`.
    """

    thread_safe = True  # one lock guards what is read and computed once: shared_benchmark shares it across threads

    def __init__(self, method: str = DEFAULT_METHOD, *, identifier: str | None = None, root=None,
                 subjects: Sequence[int] | None = None,
                 layers: Sequence[str] | None = None, window: tuple[float, float] = (0.0, 0.5),
                 comparison: str = "spearman", n_permutations: int = 1000, match_subject: bool = True,
                 method_params: dict | None = None, cache: bool = True, seed: int = 0,
                 score_subjects: Sequence[int] | None = None, n_bootstrap: int = 0,
                 channels: Sequence[str] | str | None = None, ceiling: bool = True,
                 cluster_window: tuple[float, float] | str | None = None, min_cluster_length: int = 1,
                 place_on_screen: bool = False):
        if method not in EEG_RDM_METHODS:
            close = difflib.get_close_matches(str(method), sorted(EEG_RDM_METHODS), n=1, cutoff=0.6)
            hint = f"did you mean things-eeg-rsa-{close[0]}? " if close else ""
            raise ValueError(f"unknown EEG RDM method {method!r} (benchmark id things-eeg-rsa-{method}); {hint}"
                             f"choose from {sorted(EEG_RDM_METHODS)}")
        names = (f"things-eeg-rsa-{method}", *(("things-eeg-rsa",) if method == DEFAULT_METHOD else ()))
        if identifier is None:
            identifier = names[-1]
        elif identifier not in names:
            raise ValueError(f"benchmark id {identifier!r} does not name the EEG RDM method {method!r}; expected "
                             f"{' or '.join(names)}")
        table = options_table(method)
        given = {"root": root, "subjects": subjects, "layers": layers, "window": window, "comparison": comparison,
                 "n_permutations": n_permutations, "match_subject": match_subject, "method_params": method_params,
                 "cache": cache, "seed": seed, "score_subjects": score_subjects, "n_bootstrap": n_bootstrap,
                 "channels": channels, "ceiling": ceiling, "cluster_window": cluster_window,
                 "min_cluster_length": min_cluster_length, "place_on_screen": place_on_screen}
        for name, value in given.items():
            opt.check_value(identifier, name, table[name], value)
        super().__init__(identifier=identifier, ceiling=None, version=2, parent="neural", bibtex=BIBTEX)  # 2: named CIs
        self.method, self.root, self.layers, self.window = method, root, layers, tuple(window)
        self.comparison, self.n_permutations, self.match_subject = comparison, n_permutations, match_subject
        self.method_params, self.cache, self.seed = dict(method_params or {}), cache, seed
        self._subjects = list(subjects) if subjects is not None else None
        self.score_subjects = list(score_subjects) if score_subjects is not None else None
        self.n_bootstrap, self.use_ceiling = n_bootstrap, ceiling
        self.cluster_window = cluster_window if cluster_window is None or isinstance(cluster_window, str) else tuple(
            cluster_window)
        self.min_cluster_length, self.place_on_screen = min_cluster_length, place_on_screen
        self.channels = channels if channels is None or isinstance(channels, str) else list(channels)
        # what the files gave, read once per benchmark object (see validate); one lock, so threads sharing the
        # object (a leaderboard worker) never read or compute twice
        self._lock = threading.RLock()
        self._eeg: tuple[list[int], np.ndarray, np.ndarray] | None = None
        self._ranked_eeg: tuple | None = None  # (rdms, comparison, RankedRDMs, lower, upper): see _prepared_eeg
        self._inputs: EEGInputs | None = None
        self._metadata: eeg_data.ImageMetadata | None = None
        self._stimuli: Stimuli | None = None
        self._stamps: dict[Path, dict[str, int] | None] = {}  # file -> stamp when validate() read it
        self._digests: dict[int, str] = {}  # subject -> content digest of its EEG file (RDM cache key)
        self._pending: dict[int, object] = {}  # subject -> validated recording whose RDMs are not computed yet
        self._family_ceilings: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.ch_names: tuple[str, ...] = ()
        self.rdm_params: dict = {}

    # --- data -----------------------------------------------------------------------------------------------
    def rdm_params_for(self, times: np.ndarray) -> dict:
        """The EEG RDM method's parameters for data sampled at ``times``: ``method_params``, plus for the decoding
        methods ``smooth_window`` = :func:`smoothing_samples` of the sampling rate unless given."""
        params = dict(self.method_params)
        if self.method in DECODING_METHODS and "smooth_window" not in params:
            params["smooth_window"] = smoothing_samples(eeg_data.sampling_rate(times))
        return params

    def validate(self) -> EEGInputs:
        """Check everything a score needs from the data, without computing anything heavy; read once per benchmark
        object and kept while the files' stamps (size, mtime, ctime, inode: one ``stat`` each) are unchanged.

        ``image_metadata.npy`` (image order) and the test images, once; every subject's test EEG file, read once
        (keys, shape, finite and not all-zero values, times, the selected channels), shared times and channels;
        >= 2 subjects unless ``ceiling=False``; ``score_subjects`` present; the RDM method's protocol against the
        files (decoding: ``navg`` x ``n_folds`` <= repetitions). Errors name the file or option and what was
        expected. A file whose RDMs are not in the cache yet is kept in memory, validated, until :meth:`eeg`
        computes them (up to :data:`KEEP_VALIDATED_BYTES`; beyond that it is read again there), so a cache miss
        reads each file once.
        """
        with self._lock:
            if self._inputs is not None and self._stamps == self._current_stamps():
                return self._inputs
            self._forget_data()
            metadata = eeg_data.load_image_metadata(self.root)  # read and checked once per benchmark object
            paths = metadata.image_paths("test")
            eeg_data._check_images_exist(paths, metadata.root, "test")  # every test image listed must exist
            stimuli = Stimuli(metadata.stimulus_ids("test"), tuple(paths))
            check_headers(stimuli, self.identifier)  # an undecodable image fails here, before any model is built
            folder = metadata.root / "preprocessed_data"
            subjects = list(self._subjects or eeg_data.available_subjects(metadata.root, "test"))
            if not subjects:
                raise eeg_data.ThingsEEG2NotFoundError(
                    f"{self.identifier}: no subject with a test EEG file under {folder} (expected "
                    f"{folder}/sub-01/preprocessed_eeg_test.npy): {eeg_data.subject_folders_hint(metadata.root)}")
            if self.use_ceiling and len(subjects) < 2:
                raise ValueError(
                    f"{self.identifier}: the noise ceiling needs the EEG of >= 2 subjects, found {len(subjects)} "
                    f"(subject {subjects[0]} under {folder}); add subjects, or pass ceiling=False (CLI: --option "
                    "ceiling=false) to score the raw, unceiled similarity")
            if self.score_subjects is not None:
                missing = [s for s in self.score_subjects if s not in subjects]
                if missing:
                    raise ValueError(f"{self.identifier}: score_subjects {missing} have no test EEG under {folder} "
                                     f"(found subjects {subjects})")
            stamps = {metadata.root / "image_metadata.npy": file_stamp(metadata.root / "image_metadata.npy")}
            times, ch_names, sources, n_repetitions, digests, pending = None, None, {}, None, {}, {}
            kept_bytes, params = 0, None
            for subject in subjects:  # validate every file before the first RDM is computed
                path = eeg_data.eeg_file(subject, "test", metadata.root)
                before = file_stamp(path) if path.is_file() else None
                recording = eeg_data.load_subject(subject, "test", metadata.root, check_images=False,
                                                  channels=self.channels, metadata=metadata)
                if file_stamp(recording.source) != before:
                    raise RuntimeError(f"{recording.source} changed while it was read; let whatever writes it "
                                       "finish, then retry")
                stamps[recording.source] = before
                sources[subject] = recording.source
                if times is None:
                    times, ch_names, first = recording.times, recording.ch_names, recording.source
                    params = self.rdm_params_for(times)
                elif len(recording.times) != len(times) or not np.allclose(recording.times, times, rtol=0,
                                                                           atol=eeg_data.TIMES_ATOL):
                    raise eeg_data.ThingsEEG2FormatError(
                        f"{recording.source}: 'times' ({len(recording.times)} values {recording.times[0]:.4f} ... "
                        f"{recording.times[-1]:.4f} s) differ from those of {first} ({len(times)} values "
                        f"{times[0]:.4f} ... {times[-1]:.4f} s); all subjects must share one time axis")
                elif recording.ch_names != ch_names:
                    raise eeg_data.ThingsEEG2FormatError(
                        f"{recording.source}: the selected channels {list(recording.ch_names)} differ from those of "
                        f"{first} ({list(ch_names)}); pass channels=[...] naming channels every subject has")
                if n_repetitions is None or recording.n_repetitions < n_repetitions[0]:
                    n_repetitions = (recording.n_repetitions, recording.source)
                cached = False
                if self.cache:  # the content digest: from its stamped record, else every byte once
                    digests[subject] = stamped_digest(recording.source)
                    key = rdm_cache_key(digests[subject], self.method, self._rdm_key(params, recording.ch_names))
                    cached = ArrayCache("rdms").path(key).is_file()
                if not cached and kept_bytes + recording.data.nbytes <= KEEP_VALIDATED_BYTES:
                    pending[subject] = recording  # read once: eeg() computes its RDMs from it
                    kept_bytes += recording.data.nbytes
                del recording
            self._window_mask(times)  # the window must hold EEG time points
            self._cluster_mask(times)  # and so must the cluster window
            self._check_protocol(params, *n_repetitions)
            self._metadata, self._stimuli, self._digests, self._pending = metadata, stimuli, digests, pending
            self._stamps = stamps
            self._inputs = EEGInputs(subjects, sources, np.asarray(times), tuple(ch_names),
                                     metadata.n_images("test"), n_repetitions[0])
            return self._inputs

    def _current_stamps(self) -> dict[Path, dict[str, int] | None]:
        """The stamps of the files :meth:`validate` read (``None`` for a file now missing)."""
        return {path: file_stamp(path) if path.is_file() else None for path in self._stamps}

    def _forget_data(self) -> None:
        """Drop everything read from the files (they changed, or nothing was read yet)."""
        self._inputs = self._eeg = self._ranked_eeg = self._metadata = self._stimuli = None
        self._stamps, self._digests, self._pending, self._family_ceilings = {}, {}, {}, {}

    @staticmethod
    def _rdm_key(params: dict, ch_names: Sequence[str]) -> dict:
        """The EEG RDM cache key's parameters: the method's parameters and the channels used."""
        return {**params, "channels": list(ch_names)}

    def store_subject_rdms(self, subject: int, rdms: np.ndarray) -> None:
        """Put ``rdms`` (n_times, n_pairs), computed elsewhere for ``subject`` with this benchmark's method and
        parameters (e.g. by a worker, ``realnet paper --scheduler``), into the RDM cache under the key :meth:`eeg`
        reads. Raises ``ValueError`` when caching is off or ``subject`` is not one of the validated subjects."""
        if not self.cache:
            raise ValueError(f"{self.identifier}: cache=false, so stored EEG RDMs could never be read back")
        inputs = self.validate()
        if subject not in self._digests:
            raise ValueError(f"{self.identifier}: subject {subject} is not among the validated subjects "
                             f"{inputs.subjects}")
        key = self._rdm_key(self.rdm_params_for(inputs.times), inputs.ch_names)
        cached_rdms(self._digests[subject], self.method, key, lambda: rdms, True)

    @property
    def stimuli(self) -> Stimuli:
        """The test images in EEG order (ids = file stems), as :meth:`validate` read them."""
        self.validate()
        return self._stimuli

    @property
    def shown_stimuli(self) -> Stimuli:
        """:attr:`stimuli` as models are shown them: with ``place_on_screen`` carrying the images' visual angle
        (:data:`.data.STIMULUS_DEGREES`, so each model sees them placed on its own screen), else as they are."""
        return shown_at(self.stimuli, eeg_data.STIMULUS_DEGREES, self.place_on_screen, self.identifier)

    def stimulus_set(self):
        """A Brain-Score ``StimulusSet`` of the test images in EEG order (for models without ``activations``)."""
        return eeg_data.stimulus_set("test", self.root)

    def _check_protocol(self, params: dict, n_repetitions: int, source: Path) -> None:
        """For the decoding methods: ``navg`` and ``n_folds`` must fit the repetitions of ``source`` (the file with
        the fewest), with the remedy in the message."""
        if self.method not in DECODING_METHODS or "plan" in params:
            return
        defaults = inspect.signature(EEG_RDM_METHODS[self.method]).parameters
        navg, n_folds, n_repeats = (params.get(name, defaults[name].default)
                                    for name in ("navg", "n_folds", "n_repeats"))
        try:
            check_protocol(n_repetitions, navg, n_folds, n_repeats)
        except ValueError as error:
            fit = n_repetitions // n_folds
            remedy = {"navg": fit} if fit >= 1 else {"navg": 1, "n_folds": n_repetitions}
            given = {k: v for k, v in self.method_params.items() if k not in remedy}
            remedy = {**given, **remedy}
            cli = ",".join(f'"{k}":{v!r}' for k, v in remedy.items())
            paper = (" (the paper's protocol, navg=5 and n_folds=4, needs >= 20 repetitions)"
                     if (navg, n_folds) == (5, 4) else "")
            raise ValueError(
                f"{self.identifier}: {source} holds {n_repetitions} repetitions per image, too few for the "
                f"{self.method} protocol navg={navg}, n_folds={n_folds}: {error}{paper}; set method_params={remedy} "
                f"(CLI: --option 'method_params={{{cli}}}') or use things-eeg-rsa-correlation") from None

    def eeg(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        """``(subjects, rdms (n_subjects, n_times, n_pairs), times (n_times,))``, computed once per benchmark object
        and kept (recomputed only when :meth:`validate` finds a file changed).

        RDMs come from the cache (keyed by each file's content digest) or are computed from the recordings
        :meth:`validate` kept; RDMs undefined at a time point are NaN there, with a :class:`UndefinedTimeWarning`.
        """
        with self._lock:
            inputs = self.validate()
            if self._eeg is not None:
                return self._eeg
            subjects, times, ch_names = inputs.subjects, inputs.times, inputs.ch_names
            params = self.rdm_params_for(times)
            n_images = inputs.n_images
            expected = (len(times), n_images * (n_images - 1) // 2)
            stacks = []
            for subject in subjects:
                path = inputs.sources[subject]

                def compute(subject=subject):
                    recording = self._pending.pop(subject, None)  # validated by validate(), read once
                    if recording is None:  # the cache entry vanished since, or over the memory budget
                        recording = eeg_data.load_subject(subject, "test", self._metadata.root, check_images=False,
                                                          channels=self.channels, metadata=self._metadata)
                    return eeg_rdms(recording.data, self.method, **params)

                if self.cache:
                    rdms = np.array(cached_rdms(self._digests[subject], self.method, self._rdm_key(params, ch_names),
                                                compute), dtype=np.float64)
                else:
                    rdms = np.array(compute(), dtype=np.float64)
                self._pending.pop(subject, None)
                if rdms.shape != expected:
                    raise RuntimeError(f"EEG RDMs of subject {subject} ({path}) have shape {rdms.shape}; expected "
                                       f"{expected} (n_times, n_pairs of {n_images} images): a stale RDM cache "
                                       "entry? rerun with cache=False")
                undefined = undefined_rows(rdms, self.comparison)
                if undefined.any():
                    rdms[undefined] = np.nan
                    shown = ", ".join(f"{t:+.3f}" for t in times[undefined][:10]) + (" ..." if undefined.sum() > 10
                                                                                      else "")
                    warnings.warn(
                        f"THINGS-EEG2 subject {subject} ({path}): the {self.method} EEG RDM is undefined (NaN or "
                        f"constant, e.g. a flat EEG sample) at {int(undefined.sum())} of {len(times)} time points "
                        f"({shown} s); they are NaN in the similarity and noise ceiling and left out of the score",
                        UndefinedTimeWarning, stacklevel=2)
                stacks.append(rdms)
            self.ch_names, self.rdm_params = tuple(ch_names), params
            self._eeg = (subjects, np.stack(stacks), np.asarray(times))
            return self._eeg

    @property
    def ceiling(self) -> Score:
        """Mean lower noise ceiling over the window's time points where it is defined (NaN with fewer than 2
        subjects, which only ``ceiling=False`` allows); the noise ceiling is computed once per benchmark object."""
        _, rdms, times = self.eeg()
        if rdms.shape[0] < 2:
            return Score(np.nan)
        _, lower, _ = self._prepared_eeg()
        window = self._window_mask(times)
        if not np.isfinite(lower[window]).any():
            raise ValueError(f"the noise ceiling is undefined at every time point of the window {self.window} s")
        return Score(float(np.nanmean(lower[window])))

    def _prepared_eeg(self) -> tuple[RankedRDMs, np.ndarray, np.ndarray]:
        """The EEG RDMs ranked once (:class:`RankedRDMs` for ``comparison``, carrying the test images' stimulus
        ids) and the noise ceiling ``(lower, upper)`` (NaN with one subject), kept and reused for every model this
        benchmark scores; redone when the EEG RDMs or ``comparison`` change. With ``cache`` on, both are read from
        the RDM cache when another benchmark object (or an earlier run) prepared the same EEG RDMs (see
        :meth:`_rank_and_ceiling`)."""
        with self._lock:
            subjects, rdms, times = self.eeg()
            kept = self._ranked_eeg
            if kept is None or kept[0] is not rdms or kept[1] != self.comparison:
                ranked, lower, upper = self._rank_and_ceiling(rdms)
                self._ranked_eeg = kept = (rdms, self.comparison, ranked, lower, upper)
                self._family_ceilings = {}
        return kept[2], kept[3].copy(), kept[4].copy()  # copies: the scores' attrs must not share the kept ceiling

    def _rank_and_ceiling(self, rdms: np.ndarray) -> tuple[RankedRDMs, np.ndarray, np.ndarray]:
        """``(RankedRDMs, lower, upper)`` of the EEG RDMs ``rdms`` ``(n_subjects, n_times, n_pairs)`` (undefined
        rows already NaN) under ``comparison``: the ceiling reuses the ranks (one ranking of each EEG RDM).

        With ``cache`` on, the ranks and the ceiling are an entry of the RDM cache (``$REALNET_HOME/cache/rdms``)
        keyed by the content of ``rdms`` itself (every value, NaN marks included), the comparison and
        :data:`PREPARED_EEG_CODE_VERSION`: any other EEG RDMs (another file, method, parameter, channel or subject
        set) give another key, so a stale entry is never served; a damaged one (checksum, shapes, rows not
        standardised, undefined rows other than the RDMs') is removed and recomputed."""
        n_subjects, n_times, _ = rdms.shape

        def compute() -> tuple[RankedRDMs, np.ndarray, np.ndarray]:
            ranked = RankedRDMs(rdms, self.comparison, undefined="nan", name="EEG RDMs",
                                stimulus_ids=self._stimuli.ids)
            if n_subjects > 1:
                lower, upper = noise_ceiling(rdms, self.comparison, undefined="nan", ranked=ranked)
            else:
                lower, upper = np.full(n_times, np.nan), np.full(n_times, np.nan)
            return ranked, np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)

        if not self.cache:
            return compute()
        parts = {"kind": "ranked EEG RDMs and noise ceiling", "eeg_rdms": rdms, "comparison": self.comparison,
                 "undefined": "nan", "pooling": "mean", "code_version": PREPARED_EEG_CODE_VERSION}
        found: list = []

        def check(arrays: dict) -> None:  # a cached or fresh entry, rebuilt as the RankedRDMs it holds
            bounds = [np.asarray(arrays[name]) for name in ("ceiling_lower", "ceiling_upper")]
            if any(b.shape != (n_times,) or b.dtype != np.float64 for b in bounds):
                raise ValueError(f"noise ceiling of shape {[b.shape for b in bounds]}; expected ({n_times},)")
            ranked = _ranked_from_arrays(arrays, self.comparison, undefined="nan", name="EEG RDMs",
                                         stimulus_ids=self._stimuli.ids)
            if ranked.shape != rdms.shape or not np.array_equal(ranked.undefined_rows,
                                                                np.isnan(rdms).any(axis=-1)):
                raise ValueError(f"ranks of shape {ranked.shape} or undefined rows differ from the EEG RDMs' "
                                 f"{rdms.shape}")
            found.append((ranked, *bounds))

        def arrays() -> dict:
            ranked, lower, upper = compute()
            return {**ranked.to_arrays(), "ceiling_lower": lower, "ceiling_upper": upper}

        ArrayCache("rdms").get_or_compute(parts, arrays, check=check)
        return found[-1]

    def _subset_ceiling(self, scored: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The noise ceiling ``(lower, upper)`` over the subjects ``scored`` (indices), computed once per subset
        (reusing the kept ranks of those subjects' EEG RDMs)."""
        subjects, rdms, times = self.eeg()
        ranked, lower, upper = self._prepared_eeg()
        if scored == list(range(len(subjects))):
            return lower, upper
        key = (tuple(scored), self.comparison)
        with self._lock:
            if key not in self._family_ceilings:
                reuse = {"ranked": ranked[scored]} if self.comparison != "kendall_tau_a" else {}
                self._family_ceilings[key] = (noise_ceiling(rdms[scored], self.comparison, undefined="nan", **reuse)
                                              if len(scored) > 1 else (np.full(len(times), np.nan),
                                                                       np.full(len(times), np.nan)))
            lower, upper = self._family_ceilings[key]
        return lower.copy(), upper.copy()

    def _window_mask(self, times: np.ndarray) -> np.ndarray:
        return _time_mask("window", self.window[0], self.window[1], times)

    # --- scoring --------------------------------------------------------------------------------------------
    def __call__(self, candidate) -> Score:
        """Score ``candidate`` (any BrainModel, registered model or RDM model). The object keeps its data: call it
        for many models (the files are read, the EEG RDMs ranked and the noise ceiling computed once)."""
        inputs = self.validate()  # data, subjects and protocol checked before the model runs
        identifier = str(getattr(candidate, "identifier", ""))
        subject = model_subject(candidate)
        self._scored(inputs.subjects, identifier, subject)  # a model trained on subject X needs X's EEG
        layers = list(self.layers or default_layers(candidate))
        self.eeg()
        # (n_layers, n_pairs) with the stimulus ids read back from the model; an RDM model's own RDMs reordered by id
        models = candidate_rdms(candidate, self.shown_stimuli, self.stimulus_set, layers, self.identifier)
        result = self.score_rdms(models, subject=subject)
        if self.place_on_screen:
            result.attrs["model_visual_degrees"] = model_visual_degrees(candidate)
        return result

    def _scored(self, subjects: list[int], model_identifier: str, subject: int | None = None) -> list[int]:
        """Indices into ``subjects`` of the subjects the model is compared with.

        Precedence: a model trained on a subject (``subject``, read from the model by :func:`model_subject`) is
        compared with that subject only while ``match_subject`` is true; ``score_subjects`` chooses the subjects
        for every other model (no subject, or ``match_subject=False``). Both applying with different subjects is
        an error (one line), never a silent choice."""
        name = model_identifier or "(unnamed)"
        # the registry's ReAlnet id rule, used only to refuse a model whose EEG-aligned id (not realnet-fmri_*)
        # names a subject it does not record; the subject itself is always read from the model
        named = REALNET_ID.fullmatch(model_identifier or "")
        if self.match_subject and subject is None and named and not named["fmri"]:
            # the id names a subject the model does not record: comparing it with every subject would be silent
            raise ValueError(f"{self.identifier}: model {name} records no training subject but its id names subject "
                             f"{int(named['subject'])}; set it on the model (ModelSpec(subject=...) or a `subject` "
                             "attribute) to compare it with that subject's EEG, or pass match_subject=False to "
                             "compare it with every subject")
        if self.match_subject and subject is not None:
            if self.score_subjects is not None and self.score_subjects != [subject]:
                raise ValueError(f"{self.identifier}: model {name} is trained on subject {subject} and match_subject="
                                 f"True compares it with that subject only, but score_subjects={self.score_subjects};"
                                 " pass match_subject=False to compare it with score_subjects, or leave "
                                 "score_subjects out")
            if subject not in subjects:
                raise ValueError(f"{name} is trained on subject {subject}, whose EEG is not in "
                                 f"{eeg_data.resolve_root(self.root)} (found subjects {subjects}); pass "
                                 "match_subject=False to compare it with every subject")
            return [subjects.index(subject)]
        if self.score_subjects is not None:
            missing = [s for s in self.score_subjects if s not in subjects]
            if missing:
                raise ValueError(f"score_subjects {missing} have no EEG here (found subjects {subjects})")
            return [subjects.index(s) for s in self.score_subjects]
        return list(range(len(subjects)))

    def score_rdms(self, models: ModelRDMs | np.ndarray, layers: Sequence[str] | None = None,
                   model_identifier: str = "", *, subject: int | None = None,
                   stimulus_ids: Sequence[str] | None = None) -> Score:
        """The score for precomputed model RDMs.

        ``models``: a :class:`~benchmarks.model_features.ModelRDMs` (layers, stimulus ids and model id travel with
        it), or an array ``(n_layers, n_pairs)`` named by ``layers`` over ``stimulus_ids`` (default: the test
        images in EEG order, :attr:`stimuli`, which the caller then vouches for). The stimulus order is checked
        against the EEG RDMs' at the comparison: a different order (or stimulus set) is a ``ValueError``, never
        compared. ``subject``: the model's training subject (:meth:`_scored` says how it and ``score_subjects``
        choose the EEG subjects).

        Raises ``ValueError`` naming the model and layer for an undefined (NaN or constant) model RDM, and for a
        lower noise ceiling <= 0 over the window unless ``ceiling=False``.
        """
        if isinstance(models, ModelRDMs):
            if layers is not None and tuple(layers) != models.layers:
                raise ValueError(f"layers {list(layers)} differ from the ModelRDMs' own layers {list(models.layers)}")
            if stimulus_ids is not None:
                raise ValueError("stimulus_ids= is for plain arrays; a ModelRDMs carries its own")
            layers, stimulus_ids = models.layers, models.stimulus_ids
            model_identifier, models = model_identifier or models.model, models.rdms
        elif layers is None:
            raise ValueError("layers are required with a plain array of model RDMs")
        subjects, rdms, _ = self.eeg()
        models = self._checked_model_rdms(models, layers, model_identifier, rdms.shape[-1])
        ranked, lower, upper = self._prepared_eeg()  # EEG ranks and noise ceiling, computed once per benchmark
        scored = self._scored(subjects, model_identifier, subject)
        ranked_models = RankedRDMs(models, self.comparison,  # checked above: defined (a constant one is an error)
                                   name=f"model {model_identifier or '(unnamed)'} RDMs of layers {list(layers)}",
                                   stimulus_ids=self._stimuli.ids if stimulus_ids is None else stimulus_ids)
        similarity = np.stack([compare(ranked_models, ranked[s], self.comparison, undefined="nan")
                               for s in scored])  # (subject, layer, time), NaN where the EEG RDM is undefined
        return self._assemble(similarity, scored, layers, lower, upper, len(subjects), lambda best: models[best][None])

    def _checked_model_rdms(self, models, layers: Sequence[str], model_identifier: str, n_pairs: int) -> np.ndarray:
        """``models`` as float64 ``(n_layers, n_pairs)``; ``ValueError`` for a wrong shape or an undefined layer."""
        models = np.atleast_2d(np.asarray(models, dtype=np.float64))
        if models.shape != (len(layers), n_pairs):
            raise ValueError(f"models has shape {models.shape}; expected (n_layers={len(layers)}, "
                             f"n_pairs={n_pairs}) in test-image order")
        for layer, bad in zip(layers, undefined_rows(models, self.comparison)):
            if bad:
                row = models[list(layers).index(layer)]
                kind = "holds NaN" if not np.isfinite(row).all() else f"is constant ({row[0]:.6g} for every pair)"
                raise ValueError(f"model {model_identifier or '(unnamed)'} layer {layer!r}: its RDM {kind}, so its "
                                 "similarity with any EEG RDM is undefined (e.g. the layer gives every image the "
                                 "same output); choose other layers")
        return models

    def _assemble(self, similarity: np.ndarray, scored: list[int], layers: Sequence[str], lower: np.ndarray,
                  upper: np.ndarray, n_ceiling_subjects: int, bootstrap_models: Callable[[int], np.ndarray]) -> Score:
        """The Score from ``similarity`` ``(subject, layer, time)`` of the subjects ``scored`` (indices into the
        benchmark's subjects) and the noise ceiling ``(lower, upper)`` over ``n_ceiling_subjects`` subjects;
        ``bootstrap_models(best)`` gives the best layer's model RDMs for :func:`bootstrap_similarity`
        (``(1, n_pairs)`` shared, or ``(n_scored, 1, n_pairs)`` one per subject)."""
        subjects, _, times = self.eeg()
        ranked, _, _ = self._prepared_eeg()
        window = self._window_mask(times)
        mean = similarity.mean(axis=0)  # (layer, time), NaN where any scored subject's RDM is undefined
        defined = window & np.isfinite(mean).all(axis=0)
        if n_ceiling_subjects > 1:
            defined &= np.isfinite(lower)
        if not defined.any():
            raise ValueError(f"no time point of the window {self.window} s has defined EEG RDMs for the scored "
                             f"subjects {[subjects[s] for s in scored]} and the noise ceiling (see the warnings)")
        best = int(mean[:, defined].mean(axis=1).argmax())
        ceiling = float(lower[defined].mean()) if n_ceiling_subjects > 1 else np.nan
        if self.use_ceiling and not ceiling > 0:
            found = (f"{n_ceiling_subjects} subject" if n_ceiling_subjects < 2 else
                     f"a lower noise ceiling of {ceiling:.4g} over the window {self.window} s (the subjects' EEG RDMs "
                     "do not agree)")
            raise ValueError(f"{self.identifier}: a ceiled score needs a positive noise ceiling from >= 2 subjects; "
                             f"found {found}. Pass ceiling=False (CLI: --option ceiling=false) for the raw "
                             "similarity")
        raw = float(mean[best, defined].mean())
        if self.use_ceiling and ceiling < SMALL_CEILING:
            warnings.warn(f"{self.identifier}: the lower noise ceiling over the window {self.window} s is only "
                          f"{ceiling:.3g}, so the ceiled score {raw / ceiling:.3g} (raw {raw:.3g} / ceiling) is "
                          "dominated by noise; compare raw similarities (ceiling=False) or widen the window",
                          RuntimeWarning, stacklevel=2)
        peak = int(np.argmax(np.where(defined, mean[best], -np.inf)))
        clusters = self._clusters(similarity, layers, times)
        result = Score(raw / ceiling if self.use_ceiling else raw)
        subject_ids = [subjects[s] for s in scored]
        if self.n_bootstrap and self.comparison in ("spearman", "pearson"):
            boot = bootstrap_similarity(ranked[scored], bootstrap_models(best), n_bootstrap=self.n_bootstrap,
                                        resample="both" if len(scored) > 1 else "images", method=self.comparison,
                                        seed=self.seed, undefined="nan")
            result.attrs["similarity_ci_low"] = xr.DataArray(boot.lower[0], dims="time", coords={"time": times})
            result.attrs["similarity_ci_high"] = xr.DataArray(boot.upper[0], dims="time", coords={"time": times})
            # the scalars' intervals: each resample's window mean (the raw), divided by the fixed ceiling (the score)
            raw_samples = boot.samples[:, 0, defined].mean(axis=1)
            tail = (1 - boot.confidence) / 2 * 100
            with np.errstate(all="ignore"):
                raw_low, raw_high = (float(v) for v in np.nanpercentile(raw_samples, [tail, 100 - tail]))
            divisor = ceiling if self.use_ceiling else 1.0
            result.attrs.update({"raw_ci_low": raw_low, "raw_ci_high": raw_high,
                                 "score_ci_low": raw_low / divisor, "score_ci_high": raw_high / divisor})
        result.attrs.update({
            "raw": Score(raw), "ceiling": Score(ceiling),
            "similarity": xr.DataArray(similarity, dims=("subject", "layer", "time"),
                                       coords={"subject": subject_ids, "layer": list(layers), "time": times}),
            "ceiling_lower": xr.DataArray(lower, dims="time", coords={"time": times}),
            "ceiling_upper": xr.DataArray(upper, dims="time", coords={"time": times}),
            "clusters": clusters, "best_layer": layers[best], "peak_layer": layers[best],
            "peak_time": float(times[peak]), "window": list(self.window), "method": self.method,
            "comparison": self.comparison, "subjects": subject_ids,
            "left_out_times": [float(t) for t in times[window & ~defined]],
            "channels": list(self.ch_names), "sampling_rate_hz": eeg_data.sampling_rate(times),
            "method_params": dict(self.rdm_params), "ceiled": bool(self.use_ceiling),
            "cluster_window": [float(t) for t in self.cluster_span(times)],
            "min_cluster_length": int(self.min_cluster_length), "benchmark_identifier": self.identifier,
            "place_on_screen": bool(self.place_on_screen), "stimulus_degrees": float(eeg_data.STIMULUS_DEGREES),
        })
        return result

    # --- model families: one subject-specific model per subject ------------------------------------------------
    def score_family(self, members: Sequence) -> Score:
        """One group Score for subject-specific models (the paper's ten ReAlnets): each model compared with its own
        subject's EEG only.

        ``members``: :class:`FamilyMember` s, or candidates whose subject :func:`model_subject` reads (a registered
        model's spec records it). Every check runs before the first model is built: each member has a subject,
        no two share one, each subject has EEG here, the layers agree; ``score_subjects`` and
        ``match_subject=False`` are refused (a family's subjects are its models' subjects).
        ``attrs``: as :meth:`score_rdms`, with ``similarity`` ``(subject, layer, time)`` over the family's subjects
        (in subject order), clusters per layer over those subjects, the noise ceiling over the same subjects
        (leave-one-out over them only; NaN for a one-model family, which needs ``ceiling=False``),
        ``subject_models`` (the model id of each subject, aligned with ``subjects``) and ``family: True``.
        Models are built one at a time (each released before the next, when given as :class:`FamilyMember`).
        """
        members = [member if isinstance(member, FamilyMember) else FamilyMember.of(member) for member in members]
        if not members:
            raise ValueError(f"{self.identifier}: a family score needs at least one subject-specific model, got none")
        if self.score_subjects is not None:
            raise ValueError(f"{self.identifier}: score_subjects={self.score_subjects} does not apply to a family "
                             "score (each model is compared with its own subject); leave it out")
        if not self.match_subject:
            raise ValueError(f"{self.identifier}: match_subject=False does not apply to a family score (each model "
                             "is compared with its own subject); score the models one by one instead")
        inputs = self.validate()
        owners: dict[int, str] = {}
        for member in members:
            if member.subject is None:
                raise ValueError(f"model {member.identifier} records no training subject, so it has no own EEG; a "
                                 "family holds subject-specific models (e.g. realnet_sXX_b100); score it on its "
                                 "own with score_subjects=<the family's subjects>")
            if member.subject in owners:
                raise ValueError(f"models {owners[member.subject]} and {member.identifier} are both trained on "
                                 f"subject {member.subject}; a family holds one model per subject")
            if member.subject not in inputs.subjects:
                raise ValueError(f"model {member.identifier} is trained on subject {member.subject}, whose EEG is not "
                                 f"in {eeg_data.resolve_root(self.root)} (found subjects {inputs.subjects})")
            owners[member.subject] = member.identifier
        members = sorted(members, key=lambda member: inputs.subjects.index(member.subject))
        subjects, rdms, times = self.eeg()
        scored = [subjects.index(member.subject) for member in members]
        if self.use_ceiling and len(scored) < 2:
            raise ValueError(f"{self.identifier}: the noise ceiling over the family's subjects needs >= 2 models, got "
                             f"{len(scored)} ({members[0].identifier}); pass ceiling=False (CLI: --option "
                             "ceiling=false) for the raw similarity")
        ranked, _, _ = self._prepared_eeg()
        lower, upper = self._subset_ceiling(scored)  # the ceiling over the family's subjects only, computed once
        layers, per_subject, similarity, screens = None, [], [], []
        for member, s in zip(members, scored):
            candidate = member.load()
            these = list(self.layers or default_layers(candidate))
            if layers is None:
                layers = these
            elif these != layers:
                raise ValueError(f"model {member.identifier} reads layers {these} but {members[0].identifier} reads "
                                 f"{layers}; pass layers=[...] naming layers every model of the family has")
            found = candidate_rdms(candidate, self.shown_stimuli, self.stimulus_set, layers, self.identifier)
            if self.place_on_screen:
                screens.append(model_visual_degrees(candidate))
            del candidate  # a FamilyMember's network is released before the next is built
            models = self._checked_model_rdms(found.rdms, layers, member.identifier, rdms.shape[-1])
            ranked_models = RankedRDMs(models, self.comparison, name=f"model {member.identifier} RDMs",
                                       stimulus_ids=found.stimulus_ids)  # order checked against the EEG's in compare
            similarity.append(compare(ranked_models, ranked[s], self.comparison, undefined="nan"))
            per_subject.append(models)
        stacked = np.stack(per_subject)  # (n_subjects, n_layers, n_pairs)
        result = self._assemble(np.stack(similarity), scored, layers, lower, upper, len(scored),
                                lambda best: stacked[:, best][:, None])
        result.attrs["subject_models"] = [member.identifier for member in members]
        result.attrs["family"] = True
        if screens:
            result.attrs["model_visual_degrees"] = screens  # aligned with subject_models
        return result

    # --- clusters -------------------------------------------------------------------------------------------
    def cluster_span(self, times: np.ndarray) -> tuple[float, float]:
        """``(first, last)`` EEG time (s) the cluster tests cover: ``cluster_window`` (``None``: ``window``;
        ``'all'``: every time). ``ValueError`` when it holds no EEG time point."""
        mask = self._cluster_mask(times)
        return float(times[mask][0]), float(times[mask][-1])

    def _cluster_mask(self, times: np.ndarray) -> np.ndarray:
        if self.cluster_window == "all":
            return np.ones(len(times), dtype=bool)
        start, end = self.window if self.cluster_window is None else self.cluster_window
        return _time_mask("cluster_window" if self.cluster_window is not None else "window", start, end, times)

    def _clusters(self, similarity: np.ndarray, layers: Sequence[str], times: np.ndarray) -> dict[str, list[dict]]:
        """Per layer, clusters of similarity > 0 over the time points of the cluster window (needs >= 2
        subjects): start/end s, mass, p; clusters shorter than ``min_cluster_length`` points are dropped.

        Time points without a t value (NaN for some subject, or equal for all) join no cluster."""
        if similarity.shape[0] < 2 or not self.n_permutations:
            return {}
        inside = np.flatnonzero(self._cluster_mask(times))
        clusters = {}
        for i, layer in enumerate(layers):
            test = cluster_permutation_test(similarity[:, i, inside], n_permutations=self.n_permutations,
                                            seed=self.seed, undefined="nan",
                                            min_cluster_length=self.min_cluster_length)
            clusters[layer] = [{"start": float(times[inside[c[0]]]), "end": float(times[inside[c[-1]]]),
                                "mass": float(m), "p": float(p)}
                               for c, m, p in zip(test.clusters, test.cluster_masses, test.cluster_p_values)]
        return clusters


def spec_subject(spec) -> int | None:
    """The THINGS-EEG2 subject a registered model's spec records (a local run's config.json, or the published
    weights' subject), ``None`` for none and for a model aligned to another modality (ReAlnet-fMRI: its subject is
    a THINGS-fMRI participant, with no EEG of its own). The one place the spec's subject is read."""
    if (getattr(spec, "generation_module", None) or {}).get("modality", "eeg") != "eeg":
        return None
    subject = getattr(spec, "subject", None)
    return None if subject is None else int(subject)


def model_subject(candidate) -> int | None:
    """The THINGS-EEG2 subject a model was trained on, or ``None`` for a model trained on no subject.

    Read from the model itself: its registered spec (:func:`spec_subject`), else a ``subject`` attribute (any
    BrainModel may carry one). Never guessed from the model's id."""
    spec = getattr(candidate, "spec", None)
    if spec is not None:
        return spec_subject(spec)
    subject = getattr(candidate, "subject", None)
    return None if subject is None else int(subject)


@dataclass(frozen=True)
class FamilyMember:
    """One model of a family: its id, its training subject (``None``: none) and ``load()`` building it (called
    once, when its turn comes)."""

    identifier: str
    subject: int | None
    load: Callable[[], object]

    @classmethod
    def of(cls, candidate) -> FamilyMember:
        """A member for an already built candidate."""
        return cls(str(getattr(candidate, "identifier", "")), model_subject(candidate), lambda: candidate)


def _time_mask(name: str, start: float, end: float, times: np.ndarray) -> np.ndarray:
    """``(n_times,)`` bool: the EEG time points inside ``[start, end]`` s. ``ValueError`` naming the option when the
    window holds no time point or reaches more than one sample past either end of the epoch (a window in
    milliseconds, ``[0, 500]``, would otherwise be cut silently to the epoch and scored)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    epoch = f"the EEG epoch is {times[0]:.3f}..{times[-1]:.3f} s"
    if start < times[0] - step - 1e-9 or end > times[-1] + step + 1e-9:
        raise ValueError(f"{name} [{start:g}, {end:g}] s reaches past the EEG time points ({epoch}); windows are in "
                         "seconds, e.g. window=[0.0, 0.5]")
    mask = (times >= start - 1e-9) & (times <= end + 1e-9)
    if not mask.any():
        raise ValueError(f"{name} [{start:g}, {end:g}] s holds no EEG time point ({epoch})")
    return mask


def improvement(result_a, result_b, layer: str | None = None, **test_options) -> ModelImprovement:
    """The paper's comparison of two scored models (e.g. ReAlnet vs CORnet-S) at one layer (default: A's best):
    similarity improvement r(A) - r(B) and ratio (r(A) - r(B)) / r(B) per time point, with paired clusters over
    the subjects both were compared with. ``test_options`` go to the cluster test (``n_permutations``, ``tail``)."""
    layer = layer or result_a.attrs["best_layer"]
    a, b = result_a.attrs["similarity"], result_b.attrs["similarity"]
    shared = [s for s in a["subject"].values.tolist() if s in set(b["subject"].values.tolist())]
    if len(shared) < 2:
        raise ValueError(f"the two scores share {len(shared)} subject(s) ({shared}); the paired test needs 2 or more")
    r_a, r_b = a.sel(layer=layer, subject=shared).values, b.sel(layer=layer, subject=shared).values
    test_options.setdefault("undefined", "nan")  # undefined EEG time points: NaN, outside every cluster
    return compare_models_over_time(r_a, r_b, **test_options)


def things_eeg_rsa(identifier: str = "things-eeg-rsa", **options) -> ThingsEEGRsaBenchmark:
    """``things-eeg-rsa`` (decoding-svm) or ``things-eeg-rsa-<method>``; the benchmark's ``identifier`` is the id
    asked for (``things-eeg-rsa-decoding-svm`` stays ``things-eeg-rsa-decoding-svm``)."""
    method = identifier[len("things-eeg-rsa-"):] if identifier.startswith("things-eeg-rsa-") else DEFAULT_METHOD
    return ThingsEEGRsaBenchmark(method, identifier=identifier if method in EEG_RDM_METHODS else None, **options)


@dataclass(frozen=True)
class GroupImprovement:
    """Model A vs model B over the subjects both were compared with, per layer and time point (the paper's
    similarity improvement and improvement ratio, with paired clusters and bootstrap intervals).

    ``r_a`` / ``r_b``: similarities ``(subject, layer, time)`` of the shared subjects and layers;
    ``improvement``: mean over subjects of r(A) - r(B) ``(layer, time)``; ``ratio``: (mean r(A) - mean r(B)) /
    mean r(B) ``(layer, time)``, NaN where mean r(B) is 0 or undefined; ``ci_low`` / ``ci_high`` and
    ``ratio_ci_low`` / ``ratio_ci_high``: percentile intervals at ``confidence`` of both over ``n_bootstrap``
    resamples of the subjects with replacement (pairs kept together; ``None`` when ``n_bootstrap`` is 0);
    ``clusters``: ``{layer: [{start, end, mass, p}]}`` of the two-sided paired cluster permutation test of
    r(A) - r(B) over the time points of ``cluster_window`` (s), clusters shorter than ``min_cluster_length``
    points dropped after the test.
    """

    model_a: str
    model_b: str
    subjects: list
    r_a: xr.DataArray
    r_b: xr.DataArray
    improvement: xr.DataArray
    ratio: xr.DataArray
    ci_low: xr.DataArray | None
    ci_high: xr.DataArray | None
    ratio_ci_low: xr.DataArray | None
    ratio_ci_high: xr.DataArray | None
    clusters: dict[str, list[dict]]
    cluster_window: tuple[float, float]
    min_cluster_length: int
    n_permutations: int
    n_bootstrap: int
    confidence: float

    def significant(self, alpha: float = 0.05) -> xr.DataArray:
        """``(layer, time)`` bool: inside a cluster with p < alpha."""
        times = self.improvement["time"].values
        mask = np.zeros(self.improvement.shape, dtype=bool)
        for i, layer in enumerate(self.improvement["layer"].values.tolist()):
            for cluster in self.clusters.get(layer, []):
                if cluster["p"] < alpha:
                    mask[i] |= (times >= cluster["start"] - 1e-9) & (times <= cluster["end"] + 1e-9)
        return xr.DataArray(mask, dims=("layer", "time"), coords=self.improvement.coords)

    def to_dict(self) -> dict:
        """JSON-ready: ids, subjects, settings, times, layers, and per layer the time courses (NaN as ``None``)."""
        def plain(array) -> list | None:
            if array is None:
                return None
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(array)]

        return {
            "model_a": self.model_a, "model_b": self.model_b, "subjects": list(self.subjects),
            "layers": self.improvement["layer"].values.tolist(),
            "times": [float(t) for t in self.improvement["time"].values],
            "mean_a": plain(self.r_a.mean("subject").values), "mean_b": plain(self.r_b.mean("subject").values),
            "improvement": plain(self.improvement.values), "ratio": plain(self.ratio.values),
            "ci_low": plain(None if self.ci_low is None else self.ci_low.values),
            "ci_high": plain(None if self.ci_high is None else self.ci_high.values),
            "ratio_ci_low": plain(None if self.ratio_ci_low is None else self.ratio_ci_low.values),
            "ratio_ci_high": plain(None if self.ratio_ci_high is None else self.ratio_ci_high.values),
            "clusters": self.clusters, "cluster_window": list(self.cluster_window),
            "min_cluster_length": self.min_cluster_length, "n_permutations": self.n_permutations,
            "n_bootstrap": self.n_bootstrap, "confidence": self.confidence,
        }


def _ratio(mean_a: np.ndarray, mean_b: np.ndarray) -> np.ndarray:
    ratio = np.full(np.shape(mean_a), np.nan)
    defined = np.isfinite(mean_a) & np.isfinite(mean_b) & (mean_b != 0)
    ratio[defined] = (mean_a[defined] - mean_b[defined]) / mean_b[defined]
    return ratio


def group_improvement(result_a, result_b, *, layers: Sequence[str] | None = None, n_permutations: int = 1000,
                      seed: int = 0, n_bootstrap: int = 1000, confidence: float = 0.95,
                      cluster_window: tuple[float, float] | str | None = None, min_cluster_length: int | None = None,
                      p_threshold: float = 0.05) -> GroupImprovement:
    """Model A (``result_a``) vs model B (``result_b``), two ``things-eeg-rsa`` Scores (a family score and a plain
    one, two families, ...), over the subjects both were compared with, per layer (both results' shared layers,
    or ``layers``) and time point: see :class:`GroupImprovement`.

    ``cluster_window``: ``None`` takes A's ``attrs['cluster_window']`` (else every time point), ``'all'`` every
    time point, or ``[start, end]`` s; ``min_cluster_length``: ``None`` takes A's attr (else 1).
    Raises ``ValueError`` for fewer than 2 shared subjects (the paired test needs them), no shared layer, a layer
    missing from either, different time axes, or a cluster window holding no time point.
    """
    a, b = result_a.attrs["similarity"], result_b.attrs["similarity"]
    name_a = str(result_a.attrs.get("model_identifier", "A"))
    name_b = str(result_b.attrs.get("model_identifier", "B"))
    times = np.asarray(a["time"].values, dtype=float)
    times_b = np.asarray(b["time"].values, dtype=float)
    if times.shape != times_b.shape or not np.allclose(times, times_b, rtol=0, atol=1e-6):
        raise ValueError(f"{name_a} and {name_b} have different time axes ({len(times)} vs {len(times_b)} points); "
                         "score both on the same benchmark data")
    in_b = set(b["subject"].values.tolist())
    shared = [s for s in a["subject"].values.tolist() if s in in_b]
    if len(shared) < 2:
        raise ValueError(f"{name_a} and {name_b} share {len(shared)} subject(s) ({shared}); the paired test needs 2 "
                         "or more: score a family (e.g. realnet_s*_b100) and the other model with "
                         "score_subjects=<the family's subjects>")
    layers_a, layers_b = [str(v) for v in a["layer"].values], [str(v) for v in b["layer"].values]
    if layers is None:
        layers = [layer for layer in layers_a if layer in layers_b]
        if not layers:
            raise ValueError(f"{name_a} (layers {layers_a}) and {name_b} (layers {layers_b}) share no layer; pass "
                             "layers=[...]")
    for layer in layers:
        for name, own in ((name_a, layers_a), (name_b, layers_b)):
            if layer not in own:
                raise ValueError(f"layer {layer!r} is not among {name}'s layers {own}")
    r_a = a.sel(subject=shared, layer=list(layers)).transpose("subject", "layer", "time")
    r_b = b.sel(subject=shared, layer=list(layers)).transpose("subject", "layer", "time")
    va, vb = r_a.values.astype(np.float64), r_b.values.astype(np.float64)
    window = cluster_window if cluster_window is not None else result_a.attrs.get("cluster_window", "all")
    if isinstance(window, str):
        if window != "all":
            raise ValueError(f"cluster_window must be [start, end] in seconds or 'all', got {window!r}")
        inside = np.arange(len(times))
    else:
        start, end = (float(v) for v in window)
        inside = np.flatnonzero((times >= start - 1e-9) & (times <= end + 1e-9))
        if not len(inside):
            raise ValueError(f"cluster_window ({start}, {end}) s holds no time point (times {times[0]:.3f}.."
                             f"{times[-1]:.3f} s)")
    if min_cluster_length is None:
        min_cluster_length = int(result_a.attrs.get("min_cluster_length", 1))
    coords = {"layer": list(layers), "time": times}
    mean_a, mean_b = va.mean(axis=0), vb.mean(axis=0)
    improvement = xr.DataArray((va - vb).mean(axis=0), dims=("layer", "time"), coords=coords)
    ratio = xr.DataArray(_ratio(mean_a, mean_b), dims=("layer", "time"), coords=coords)
    clusters: dict[str, list[dict]] = {}
    if n_permutations:
        for i, layer in enumerate(layers):
            test = paired_cluster_test(va[:, i, inside], vb[:, i, inside], tail="two-sided", p_threshold=p_threshold,
                                       n_permutations=n_permutations, seed=seed, undefined="nan",
                                       min_cluster_length=min_cluster_length)
            clusters[layer] = [{"start": float(times[inside[c[0]]]), "end": float(times[inside[c[-1]]]),
                                "mass": float(m), "p": float(p)}
                               for c, m, p in zip(test.clusters, test.cluster_masses, test.cluster_p_values)]
    intervals: list[xr.DataArray | None] = [None] * 4
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(shared), (n_bootstrap, len(shared)))  # subjects resampled, pairs kept
        boot_a, boot_b = va[draws].mean(axis=1), vb[draws].mean(axis=1)  # (n_bootstrap, layer, time)
        tail = (1 - confidence) / 2 * 100
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (undefined time points)
            for k, values in enumerate((boot_a - boot_b, _ratio(boot_a, boot_b))):
                low, high = np.nanpercentile(values, [tail, 100 - tail], axis=0)
                intervals[2 * k] = xr.DataArray(low, dims=("layer", "time"), coords=coords)
                intervals[2 * k + 1] = xr.DataArray(high, dims=("layer", "time"), coords=coords)
    return GroupImprovement(name_a, name_b, shared, r_a, r_b, improvement, ratio, *intervals, clusters,
                            (float(times[inside[0]]), float(times[inside[-1]])), int(min_cluster_length),
                            int(n_permutations), int(n_bootstrap), float(confidence))
