"""ROI RSA benchmarks: model layer RDMs against human fMRI ROI RDMs (shared by the three fMRI datasets).

Per ROI, layer and subject: similarity = ``compare(model RDM, subject RDM)`` (Spearman by default; Kendall tau-a and
Pearson on request), model RDMs are 1 - Pearson over the flattened layer outputs. Per ROI the best layer is the one
with the highest subject-averaged similarity; its score is that similarity divided by the ROI's lower noise ceiling
(each subject vs the mean of the others). The benchmark's scalar is the mean of the ROI scores.

Visual degrees (option ``place_on_screen``, default false): false shows each model the whole image, resized by its
preprocessing (the ReAlnet paper's protocol); true places the images on the model's visual field as Brain-Score does
(``Stimuli(degrees=<dataset's STIMULUS_DEGREES>)``, :func:`benchmarks.model_features.layer_features`): a model
whose ``visual_degrees()`` exceed the images' sees them pasted centred on a grey canvas, a narrower one sees them
centre-cropped. ``attrs`` record ``place_on_screen``, ``stimulus_degrees`` (the dataset's) and, for a model that
ran, ``model_visual_degrees``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from . import options as opt
from .model_features import ModelRDMs, candidate_rdms, check_headers, default_layers, model_visual_degrees, shown_at
from .rsa import bootstrap_similarity, compare, model_rdm, noise_ceiling
from .rsa.compare import METHODS as COMPARISONS
from .rsa.rdm import pair_indices

OPTIONS: dict[str, opt.Option] = {
    "rois": opt.Option("a list of ROI names of the dataset", ["V1", "V4"], opt.optional(opt.string_list)),
    "layers": opt.Option("a list of layer names", ["V4", "IT"], opt.optional(opt.string_list)),
    "method": opt.Option(f"one of {', '.join(COMPARISONS)}", "spearman", opt.choice(COMPARISONS)),
    "n_bootstrap": opt.Option("an integer >= 0 (0: no confidence intervals)", 1000, opt.integer(0)),
    "seed": opt.Option("an integer >= 0", 0, opt.integer(0)),
    "place_on_screen": opt.Option("true (place the images on the model's visual field, as Brain-Score) or false "
                                  "(the whole image resized, the ReAlnet paper's protocol)", True, opt.boolean),
}
"""Options of :class:`RoiRsaBenchmark` (the dataset benchmarks add ``root``: :func:`dataset_options`)."""


DATA_POLICY_OPTIONS: dict[str, opt.Option] = {
    "nan_policy": opt.Option("'raise' (a voxel with NaN responses is an error) or 'drop_voxels'", "drop_voxels",
                             opt.choice(("raise", "drop_voxels"))),
    "require_equal_repetitions": opt.Option("true (every test image repeated equally often, else an error) or false",
                                            False, opt.boolean),
}
"""The fMRI loaders' data policies (THINGS-fMRI, Shen 2019), which their error messages name."""


def dataset_options(root_expected: str, data_policies: bool = False) -> dict[str, opt.Option]:
    """:data:`OPTIONS` plus ``root`` (``root_expected`` says which folder) for a dataset's benchmark factory, and
    with ``data_policies`` the loader's :data:`DATA_POLICY_OPTIONS`."""
    return {"root": opt.Option(root_expected, "/data/folder", opt.optional(opt.path)), **OPTIONS,
            **(DATA_POLICY_OPTIONS if data_policies else {})}


@dataclass(frozen=True)
class RoiRdms:
    """Subject RDMs per ROI, condensed: ``rdms[roi]`` is ``(n_subjects, n_pairs)``; stimuli in RDM order."""

    dataset: str
    subjects: tuple[str, ...]
    rdms: dict[str, np.ndarray]
    stimuli: object  # model_registry.stimuli.Stimuli
    stimulus_set: Callable[[], object]
    stimulus_degrees: float | None = None  # visual angle the images were shown at (the dataset's STIMULUS_DEGREES)

    @property
    def rois(self) -> tuple[str, ...]:
        return tuple(self.rdms)

    @property
    def stimulus_ids(self) -> tuple[str, ...] | None:
        """The stimulus id of each RDM row, in order (``None`` when the data name no stimuli)."""
        return None if self.stimuli is None else tuple(str(i) for i in self.stimuli.ids)


def condensed(square: np.ndarray) -> np.ndarray:
    """``(..., n, n)`` symmetric RDMs -> ``(..., n_pairs)`` upper triangles in scipy ``squareform`` order."""
    rows, cols = pair_indices(square.shape[-1])
    return np.ascontiguousarray(square[..., rows, cols])


def patterns_to_rdms(patterns, stimulus_degrees: float | None = None) -> RoiRdms:
    """A :class:`benchmarks.datasets.fmri_common.RoiPatterns` -> 1 - Pearson RDMs per ROI and subject;
    ``stimulus_degrees``: the visual angle the images were shown at (for ``place_on_screen``)."""
    rdms = {roi: np.stack([_roi_rdm(patterns, s, roi) for s in patterns.subjects]) for roi in patterns.rois}
    return RoiRdms(patterns.dataset, tuple(patterns.subjects), rdms, patterns.stimuli(), patterns.stimulus_set,
                   stimulus_degrees)


def _roi_rdm(patterns, subject: str, roi: str) -> np.ndarray:
    """1 - Pearson RDM of one subject's ROI pattern ``(n_images, n_voxels)``; errors name the dataset, subject and
    ROI (an ROI of one voxel has no Pearson correlation between images)."""
    try:
        return model_rdm(patterns.pattern(subject, roi))
    except (ValueError, TypeError) as error:
        message = str(error).replace("feature(s) per image", "voxel(s)").replace("features", "the pattern")
        raise type(error)(f"{patterns.dataset} subject {subject} ROI {roi}: {message}") from None


class RoiRsaBenchmark(BenchmarkBase):
    """Scores any BrainModel against ROI RDMs; ``load()`` returns :class:`RoiRdms` (called once, on first use).

    One object scores many models: the data are loaded and validated once and the noise ceilings computed once
    (in :meth:`validate`); it is safe to share between threads (:attr:`thread_safe`: data and ceilings are
    computed under one lock and only read afterwards; a score builds its own arrays)."""

    thread_safe = True  # realnet_plugin.api.shared_benchmark gives every thread this one object
    # version 2: intervals named by their quantity (raw_ci_*, score_ci_*, roi_*); version 1's ci_low/ci_high were the
    # raw similarity's interval, shown as the score's

    def __init__(self, identifier: str, load: Callable[[], RoiRdms], *, rois: Sequence[str] | None = None,
                 layers: Sequence[str] | None = None, method: str = "spearman", n_bootstrap: int = 1000,
                 seed: int = 0, place_on_screen: bool = False, bibtex: str | None = None, version: int = 2):
        for name, value in (("rois", rois), ("layers", layers), ("method", method), ("n_bootstrap", n_bootstrap),
                            ("seed", seed), ("place_on_screen", place_on_screen)):
            opt.check_value(identifier, name, OPTIONS[name], value)
        super().__init__(identifier=identifier, ceiling=None, version=version, parent="neural", bibtex=bibtex)
        self._load, self._data = load, None
        self.rois, self.layers, self.method = (tuple(rois) if rois else None), layers, method
        self.n_bootstrap, self.seed, self.place_on_screen = n_bootstrap, seed, place_on_screen
        self._ceilings: np.ndarray | None = None
        self._lock = threading.RLock()

    @property
    def data(self) -> RoiRdms:
        """The ROI RDMs (:class:`RoiRdms`), loaded on first use and kept."""
        with self._lock:
            return self._loaded()

    def _loaded(self) -> RoiRdms:
        if self._data is None:
            data = self._load()
            if self.rois:
                unknown = [roi for roi in self.rois if roi not in data.rdms]
                if unknown:
                    raise ValueError(f"{self.identifier}: unknown ROIs {unknown}; the data has {list(data.rois)}")
                data = RoiRdms(data.dataset, data.subjects, {r: data.rdms[r] for r in self.rois}, data.stimuli,
                               data.stimulus_set, data.stimulus_degrees)
            self._data = data
        return self._data

    def validate(self) -> RoiRdms:
        """Load and check the data before any model runs: the dataset's files (its loader's checks), every stimulus
        image's header (readable, decodable format, not a decompression bomb; one line naming the file), the ROIs, and
        a positive lower noise ceiling per ROI (a ceiled score needs one), computed once per benchmark object, and
        with ``place_on_screen`` that the dataset declares its visual degrees. Errors name the ROI and the value."""
        with self._lock:
            return self._validated()

    def _validated(self) -> RoiRdms:
        data = self._loaded()
        if data.stimuli is not None:
            shown_at(data.stimuli, data.stimulus_degrees, self.place_on_screen, self.identifier)  # degrees declared?
        if self._ceilings is None:
            if data.stimuli is not None:  # every image file's header, once: an undecodable one fails before a model
                check_headers(data.stimuli, self.identifier)
            rows = []
            for roi in data.rois:
                try:
                    rows.append([float(b) for b in noise_ceiling(data.rdms[roi], self.method)])
                except ValueError as error:
                    raise ValueError(f"{self.identifier}: the noise ceiling of ROI {roi} ({self.method}, "
                                     f"{len(data.subjects)} subjects) is undefined: {error}") from None
            ceilings = np.array(rows)
            bad = [(roi, c) for roi, c in zip(data.rois, ceilings[:, 0]) if not c > 0]
            if bad:
                shown = ", ".join(f"{roi} {c:.4g}" for roi, c in bad)
                raise ValueError(f"{self.identifier}: the lower noise ceiling of ROI(s) {shown} ({self.method}, "
                                 f"{len(data.subjects)} subjects) is not > 0, so a ceiled score is undefined; leave "
                                 "them out with rois=[...]")
            self._ceilings = ceilings
        return data

    @property
    def ceiling(self) -> Score:
        """Mean over ROIs of the lower noise ceiling (computed once, by :meth:`validate`)."""
        self.validate()
        return Score(float(np.mean(self._ceilings[:, 0])))

    def __call__(self, candidate) -> Score:
        """Score ``candidate``; the object keeps its data, so call it for many models."""
        data = self.validate()  # before the model runs
        layers = list(self.layers or default_layers(candidate))
        stimuli = shown_at(data.stimuli, data.stimulus_degrees, self.place_on_screen, self.identifier)
        # (n_layers, n_pairs) with the stimulus ids read back from the model; an RDM model's own RDMs reordered by id
        models = candidate_rdms(candidate, stimuli, data.stimulus_set, layers, self.identifier)
        result = self.score_rdms(models)
        if self.place_on_screen:
            result.attrs["model_visual_degrees"] = model_visual_degrees(candidate)
        return result

    def score_rdms(self, models: ModelRDMs | np.ndarray, layers: Sequence[str] | None = None, *,
                   stimulus_ids: Sequence[str] | None = None) -> Score:
        """The score for precomputed model RDMs: a :class:`~benchmarks.model_features.ModelRDMs` (layers and
        stimulus ids travel with it) or an array ``(n_layers, n_pairs)`` named by ``layers`` over ``stimulus_ids``
        (default: the data's stimulus order, which the caller then vouches for). A stimulus order differing from
        the ROI RDMs' is a ``ValueError`` at the comparison."""
        if isinstance(models, ModelRDMs):
            if layers is not None and tuple(layers) != models.layers:
                raise ValueError(f"layers {list(layers)} differ from the ModelRDMs' own layers {list(models.layers)}")
            layers, stimulus_ids, models = models.layers, models.stimulus_ids, models.rdms
        elif layers is None:
            raise ValueError("layers are required with a plain array of model RDMs")
        data = self.validate()
        rois, n_layers = data.rois, len(layers)
        similarity = np.stack([compare(models, data.rdms[roi], self.method, ids_a=stimulus_ids,
                                       ids_b=data.stimulus_ids)
                               for roi in rois])  # (roi, layer, subject)
        ceilings = self._ceilings
        best = similarity.mean(axis=2).argmax(axis=1)  # (n_rois,)
        best_raw = similarity.mean(axis=2)[np.arange(len(rois)), best]
        roi_scores = best_raw / ceilings[:, 0]
        intervals = self._intervals(data, models, best, ceilings[:, 0])
        result = Score(float(np.mean(roi_scores)))
        table = xr.DataArray(similarity, dims=("roi", "layer", "subject"),
                             coords={"roi": list(rois), "layer": list(layers), "subject": list(data.subjects)})
        result.attrs.update({
            "raw": Score(float(np.mean(best_raw))), "ceiling": Score(float(np.mean(ceilings[:, 0]))),
            "similarity": table,
            "roi_scores": xr.DataArray(roi_scores, dims="roi", coords={"roi": list(rois)}),
            "best_layer": {roi: layers[b] for roi, b in zip(rois, best)},
            "ceiling_lower": xr.DataArray(ceilings[:, 0], dims="roi", coords={"roi": list(rois)}),
            "ceiling_upper": xr.DataArray(ceilings[:, 1], dims="roi", coords={"roi": list(rois)}),
            **{key: (xr.DataArray(value, dims="roi", coords={"roi": list(rois)}) if key.startswith("roi_")
                     else float(value)) for key, value in intervals.items()},
            "method": self.method, "n_layers": n_layers, "dataset": data.dataset,
            "benchmark_identifier": self.identifier, "place_on_screen": bool(self.place_on_screen),
            "stimulus_degrees": float("nan") if data.stimulus_degrees is None else float(data.stimulus_degrees),
        })
        return result

    def _intervals(self, data: RoiRdms, models: np.ndarray, best: np.ndarray, ceilings: np.ndarray) -> dict:
        """Bootstrap intervals (images and subjects resampled, :func:`~benchmarks.rsa.bootstrap_similarity`, one
        joint resampling for all ROIs) of each quantity the Score reports, named by it: ``raw_ci_low/high`` of
        ``attrs['raw']`` (mean over ROIs of the best layer's subject-mean similarity), ``score_ci_low/high`` of the
        score (the mean over ROIs of that similarity divided by the ROI's lower noise ceiling, the ceiling held
        fixed), and per ROI ``roi_raw_ci_low/high`` (of the best layer's ``similarity``) and
        ``roi_score_ci_low/high`` (of ``roi_scores``). NaN without a bootstrap (``n_bootstrap=0``, or a comparison
        other than Spearman / Pearson)."""
        n_rois = len(data.rois)
        nan = np.full(n_rois, np.nan)
        out = {"raw_ci_low": np.nan, "raw_ci_high": np.nan, "score_ci_low": np.nan, "score_ci_high": np.nan,
               "roi_raw_ci_low": nan, "roi_raw_ci_high": nan, "roi_score_ci_low": nan, "roi_score_ci_high": nan}
        if not (self.n_bootstrap and self.method in ("spearman", "pearson")):
            return out
        chosen = sorted({int(b) for b in best})  # the best layers, each bootstrapped once against every ROI
        subject_rdms = np.stack([data.rdms[roi] for roi in data.rois], axis=1)  # (subject, roi, pair)
        boot = bootstrap_similarity(subject_rdms, np.asarray(models)[chosen], n_bootstrap=self.n_bootstrap,
                                    method=self.method, seed=self.seed)
        raw = boot.samples[:, [chosen.index(int(b)) for b in best], np.arange(n_rois)]  # (bootstrap, roi)
        tail = (1 - boot.confidence) / 2 * 100
        with np.errstate(all="ignore"):
            for name, samples in (("raw", raw), ("score", raw / ceilings)):
                low, high = np.nanpercentile(samples, [tail, 100 - tail], axis=0)
                out[f"roi_{name}_ci_low"], out[f"roi_{name}_ci_high"] = low, high
                out[f"{name}_ci_low"], out[f"{name}_ci_high"] = np.nanpercentile(samples.mean(axis=1),
                                                                                 [tail, 100 - tail])
        return out
