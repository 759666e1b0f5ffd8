"""Model recurrent steps x EEG time: the cross-temporal RSA of a model on a ``things-eeg-rsa[-<method>]`` benchmark.

Every call of each chosen module (CORnet-S ``V4.output`` is called 4 times per forward pass, so ``V4.output`` gives
``V4.output-t0`` ... ``V4.output-t3`` through the activations extractor) becomes one row: its model RDM (1 - Pearson
over the flattened outputs of the test images, as the benchmark computes model RDMs) is compared with each scored
subject's EEG RDM at every time point -> ``(subject, layer, time)`` similarities, plus clusters over the
(layer-step, time) matrix (:mod:`benchmarks.rsa.cross_temporal`: 1-D clusters over time within each step,
family-wise over the whole matrix by default, and why). Later recurrent steps matching later EEG times show as
peaks moving right down a block's rows (:meth:`CrossTemporalRSA.peak_times`).

Everything EEG-side is the benchmark's own: its validated files, its EEG RDMs (method, channels, cache), their ranks
prepared once per benchmark object, its comparison (Spearman by default), its subjects (``score_subjects``, and a
``realnet_sXX_*`` model against subject XX with ``match_subject``) and its ``seed`` / ``n_permutations`` as defaults.
Data, options and layer names are checked before the model runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from model_registry.extractor import parse_layer

from ..model_features import layer_features, layer_rdms
from ..rdm_model import RdmModel
from ..rsa._validation import check_choice, check_positive_int, check_probability
from ..rsa.compare import undefined_rows
from ..rsa.cross_temporal import (
    FAMILIES,
    CrossTemporalClusters,
    cross_temporal_cluster_test,
    cross_temporal_similarity,
)
from ..rsa.stats import TAILS
from .benchmark import ThingsEEGRsaBenchmark

if TYPE_CHECKING:
    from model_registry import RegisteredModel


@dataclass(frozen=True)
class CrossTemporalRSA:
    """A model's cross-temporal RSA on a THINGS-EEG2 benchmark.

    similarity: ``(subject, layer, time)`` DataArray; ``layer`` holds the layer-step names (``'V4.output-t2'``) with
    coords ``block`` (the module, ``'V4.output'``) and ``step`` (the call index, 2); ``time`` in seconds.
    clusters: the test over the (layer, time) matrix in the order of ``similarity``'s layers (None with one subject
    or ``n_permutations=0``; ``note`` says why). The rest names what was compared: the model id, the benchmark id,
    its EEG RDM method and comparison, the scored subjects, the cluster family and the permutation count.
    """

    similarity: xr.DataArray
    clusters: CrossTemporalClusters | None
    model: str
    benchmark: str
    method: str
    comparison: str
    subjects: list[int]
    family: str
    n_permutations: int
    window: tuple[float, float]
    note: str = ""

    @property
    def mean(self) -> xr.DataArray:
        """Subject-mean similarity ``(layer, time)`` (NaN where any scored subject's EEG RDM is undefined)."""
        return self.similarity.mean("subject", skipna=False)

    @property
    def blocks(self) -> list[str]:
        """The modules in row order, each once (``['V1.output', 'V2.output', ...]``)."""
        return list(dict.fromkeys(self.similarity["block"].values.tolist()))

    def significant(self, alpha: float = 0.05) -> xr.DataArray:
        """``(layer, time)`` bool: cells inside a cluster with p < alpha (all False without a test)."""
        mask = (self.clusters.significant_mask(alpha) if self.clusters is not None
                else np.zeros(self.similarity.shape[1:], dtype=bool))
        return xr.DataArray(mask, dims=("layer", "time"), coords={k: self.mean.coords[k] for k in self.mean.coords})

    def peak_times(self) -> xr.DataArray:
        """Per layer-step, the time (s) of the subject-mean similarity's maximum inside the benchmark's window
        (NaN for a row undefined over the whole window)."""
        mean = self.mean
        times = mean["time"].values
        inside = (times >= self.window[0] - 1e-9) & (times <= self.window[1] + 1e-9)
        values = np.where(inside[None] & np.isfinite(mean.values), mean.values, -np.inf)
        peaks = np.where(np.isfinite(values).any(axis=1), times[values.argmax(axis=1)], np.nan)
        return xr.DataArray(peaks, dims="layer", coords={k: mean.coords[k] for k in ("layer", "block", "step")})

    def cluster_table(self) -> list[dict]:
        """One dict per cluster: ``layer``, ``block``, ``step``, ``start`` / ``end`` (s), ``mass``, ``p``."""
        if self.clusters is None:
            return []
        layers, times = self.similarity["layer"].values, self.similarity["time"].values
        blocks, steps = self.similarity["block"].values, self.similarity["step"].values
        return [{"layer": str(layers[k]), "block": str(blocks[k]), "step": int(steps[k]),
                 "start": float(times[t[0]]), "end": float(times[t[-1]]), "mass": float(mass), "p": float(p)}
                for (k, t), mass, p in zip(self.clusters.clusters, self.clusters.cluster_masses,
                                           self.clusters.cluster_p_values)]

    def to_dict(self) -> dict:
        """JSON-ready summary: ids, subjects, layers, times, subject-mean matrix, peak times and clusters."""
        mean = self.mean
        return {"model": self.model, "benchmark": self.benchmark, "method": self.method,
                "comparison": self.comparison, "subjects": list(self.subjects), "family": self.family,
                "n_permutations": self.n_permutations, "window": list(self.window), "note": self.note,
                "layers": [str(v) for v in mean["layer"].values], "times": mean["time"].values.tolist(),
                "mean": [[None if not np.isfinite(v) else float(v) for v in row] for row in mean.values],
                "peak_times": [None if not np.isfinite(v) else float(v) for v in self.peak_times().values],
                "clusters": self.cluster_table()}


def recurrent_modules(candidate: RegisteredModel) -> list[str]:
    """The modules a model declares as called once per recurrent step (its spec's ``recurrent_steps``,
    e.g. CORnet-S ``['V1.output', 'V2.output', 'V4.output', 'IT.output']``). Raises ``ValueError`` naming the model
    when it declares none (then pass ``layers=``)."""
    steps = _declared_steps(candidate)
    if not steps:
        raise ValueError(f"model {getattr(candidate, 'identifier', candidate)!r} declares no recurrent steps "
                         "(spec.recurrent_steps); pass layers=[module names], e.g. ['V4.output']")
    return list(steps)


def _declared_steps(candidate: RegisteredModel) -> dict[str, int]:
    spec = getattr(candidate, "spec", None)
    return dict(getattr(spec, "recurrent_steps", None) or {}) if spec is not None else {}


def _check_layers(layers, identifier: str) -> list[str]:
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers must be a non-empty list of module names (e.g. ['V2.output', 'V4.output']), "
                         f"got {layers!r}")
    layers = list(layers)
    if not all(isinstance(name, str) and name for name in layers):
        raise ValueError(f"layers must be module names (strings), got {layers!r}")
    modules = [parse_layer(name) for name in layers]
    whole = {module for module, step in modules if step is None}
    for name, (module, step) in zip(layers, modules):
        if layers.count(name) > 1:
            raise ValueError(f"layer {name!r} is listed more than once in {layers}")
        if step is not None and module in whole:
            raise ValueError(f"layer {name!r} is already included by {module!r} (every step of {module}); list "
                             f"one of them for model {identifier}")
    return layers


def cross_temporal_rsa(candidate: RegisteredModel, benchmark: ThingsEEGRsaBenchmark,
                       layers: Sequence[str] | None = None, *,
                       family: str = "matrix", tail: str = "greater", p_threshold: float = 0.05,
                       n_permutations: int | None = None, seed: int | None = None) -> CrossTemporalRSA:
    """Cross-temporal RSA of ``candidate`` (a registered model, e.g. ``load_model('cornet_s')``) on ``benchmark``
    (a :class:`ThingsEEGRsaBenchmark`, e.g. ``load_benchmark('things-eeg-rsa-correlation', root=...)``).

    layers: module names; one without a step (``'V4.output'``) gives every call of it (``V4.output-t0..t3``), one
    with a step (``'V4.output-t2'``) that call only; default: the model's :func:`recurrent_modules`. family, tail,
    p_threshold: the cluster test's (:func:`benchmarks.rsa.cross_temporal.cross_temporal_cluster_test`);
    n_permutations / seed: default the benchmark's (0: no test).

    Returns :class:`CrossTemporalRSA` with similarities ``(n_subjects, n_layer_steps, n_times)``. Raises
    ``ValueError`` before the model runs for a bad option or layer list, a model without activations (Brain-Score
    BrainModels record regions, not steps; RDM-only models have no steps), or bad data (the benchmark's
    :meth:`~ThingsEEGRsaBenchmark.validate`); after extraction, naming the layer-step, for non-finite activations
    or an undefined (constant) model RDM, and when a module gives another number of steps than the model declares.
    """
    if not isinstance(benchmark, ThingsEEGRsaBenchmark):
        raise TypeError(f"benchmark must be a things-eeg-rsa benchmark (ThingsEEGRsaBenchmark), got "
                        f"{getattr(benchmark, 'identifier', type(benchmark).__name__)!r}")
    identifier = str(getattr(candidate, "identifier", "") or type(candidate).__name__)
    if isinstance(candidate, RdmModel) or not callable(getattr(candidate, "activations", None)):
        raise ValueError(f"model {identifier}: cross-temporal RSA needs a registered model with per-step "
                         "activations (model_registry.load_model / wrap); Brain-Score BrainModels and RDM-only "
                         "models expose no recurrent steps")
    check_choice(family, "family", FAMILIES)
    check_choice(tail, "tail", tuple(TAILS))
    check_probability(p_threshold, "p_threshold")
    n_permutations = benchmark.n_permutations if n_permutations is None else n_permutations
    if n_permutations != 0:
        check_positive_int(n_permutations, "n_permutations", minimum=2)
    seed = benchmark.seed if seed is None else seed
    layers = _check_layers(list(layers) if layers is not None and not isinstance(layers, str) else
                           (layers if layers is not None else recurrent_modules(candidate)), identifier)

    inputs = benchmark.validate()  # every file and option-vs-data fit, before the model runs
    scored = benchmark._scored(inputs.subjects, identifier)  # score_subjects / a realnet_sXX model's own subject
    # the images in the EEG RDMs' order, as the benchmark shows them (place_on_screen); ids travel with the features
    features = layer_features(candidate, benchmark.shown_stimuli, benchmark.stimulus_set, layers)
    names = list(features)  # expanded: 'V4.output' -> 'V4.output-t0' ... in call order
    declared = _declared_steps(candidate)
    parsed = [parse_layer(name) for name in names]
    for module in dict.fromkeys(module for module, _ in parsed):
        found = sum(1 for m, _ in parsed if m == module)
        if module in layers and module in declared and found != declared[module]:
            raise RuntimeError(f"model {identifier}: module {module!r} gave {found} step(s) but the model declares "
                               f"{declared[module]} (spec.recurrent_steps)")
    models = layer_rdms(features, names, identifier)  # (n_layer_steps, n_pairs), 1 - Pearson
    model_ids = features.stimulus_ids
    del features
    for name, bad, row in zip(names, undefined_rows(models, benchmark.comparison), models):
        if bad:
            raise ValueError(f"model {identifier} layer {name!r}: its RDM is constant ({row[0]:.6g} for every pair), "
                             "so its similarity with any EEG RDM is undefined; choose other layers")
    subjects, _, times = benchmark.eeg()  # EEG RDMs after the model: a bad layer name fails before this work
    ranked, _, _ = benchmark._prepared_eeg()  # the benchmark's EEG RDMs, ranked once per benchmark object
    similarity = cross_temporal_similarity(models, ranked[scored], benchmark.comparison, undefined="nan",
                                           model_ids=model_ids)  # order asserted against the EEG's
    note = ""
    clusters = None
    if len(scored) < 2:
        note = f"no cluster test: {len(scored)} subject scored (a sign-flip test needs >= 2)"
    elif n_permutations == 0:
        note = "no cluster test: n_permutations=0"
    else:
        clusters = cross_temporal_cluster_test(similarity, tail=tail, p_threshold=p_threshold,
                                               n_permutations=n_permutations, seed=seed, family=family,
                                               undefined="nan")
    subject_ids = [subjects[s] for s in scored]
    steps = [0 if step is None else step for _, step in parsed]
    array = xr.DataArray(similarity, dims=("subject", "layer", "time"),
                         coords={"subject": subject_ids, "layer": names, "block": ("layer", [m for m, _ in parsed]),
                                 "step": ("layer", steps), "time": np.asarray(times)})
    return CrossTemporalRSA(array, clusters, identifier, benchmark.identifier, benchmark.method,
                            benchmark.comparison, subject_ids, family, int(n_permutations), tuple(benchmark.window),
                            note)
