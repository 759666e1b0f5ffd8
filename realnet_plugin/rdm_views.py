"""RDM heatmaps of a model next to the brain data a benchmark compares it with (``realnet plot --kind rdm``).

- EEG (``things-eeg-rsa[-<method>]``): the model RDM of one layer (default: the benchmark's best layer) and the EEG
  RDM at one time point (default: the peak of that layer's subject-mean similarity inside the scoring window),
  averaged over the subjects the model is scored against (or one chosen subject).
- fMRI ROI RSA (``things-fmri-roi``, ``shen2019-fmri-roi``, ``kriegeskorte2008-hit-rsa``): the model RDM of one
  layer (default: the best layer of the chosen ROI, else of the first ROI) and the ROI RDMs (subject mean, or one
  subject), every ROI or the chosen one.

Images are grouped by category where the stimulus set has one (a ``category`` column, else a ``concept`` column
that groups several images); otherwise they stay in dataset order. Model RDMs are 1 - Pearson over the flattened
layer outputs, exactly as the benchmarks compute them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CATEGORY_COLUMNS = ("category", "concept")


@dataclass(frozen=True)
class RdmView:
    """What :func:`realnet_plugin.plots.plot_rdms` draws: panels ``[(name, condensed rdm (n_pairs,), unit)]``,
    per-image categories (or ``None``) and the figure title."""

    panels: list[tuple[str, np.ndarray, str]]
    categories: list[str] | None
    title: str
    layer: str
    time: float | None = None


def _categories(stimulus_set) -> list[str] | None:
    columns = getattr(stimulus_set, "columns", [])
    for name in CATEGORY_COLUMNS:
        if name in columns:
            values = [str(v) for v in stimulus_set[name]]
            if len(set(values)) < len(values):
                return values
    return None


def _eeg_unit(method: str) -> str:
    if method.startswith("decoding"):
        return f"pairwise decoding accuracy ({method})"
    if method == "correlation":
        return "1 - Pearson r (EEG channels)"
    return f"{method} distance"


def _subjects_text(subjects: Sequence) -> str:
    shown = ", ".join(str(s) for s in list(subjects)[:8]) + (", ..." if len(subjects) > 8 else "")
    return f"{len(subjects)} subject{'s' if len(subjects) != 1 else ''} ({shown})"


def rdm_view(model, benchmark: str, *, layer: str | None = None, time: float | None = None, roi: str | None = None,
             subject=None, model_options: dict | None = None, **benchmark_options) -> RdmView:
    """Compute the RDMs to show for ``model`` (id or BrainModel) on ``benchmark`` (id; options as for scoring).

    time: seconds (EEG only); roi (fMRI only); subject: one subject's RDM instead of the subject mean.
    Raises ``ValueError`` (before any model runs) for a benchmark without brain RDMs, an option that does not
    apply to it, an unknown layer/ROI/subject or a time outside the epoch.
    """
    from benchmarks.datasets.things_eeg2 import data as eeg_data
    from benchmarks.model_features import ModelRDMs, default_layers, layer_features, shown_at
    from benchmarks.registry import load_benchmark
    from benchmarks.roi_rsa import RoiRsaBenchmark
    from benchmarks.rsa import model_rdms
    from benchmarks.rsa.compare import check_stimulus_order
    from benchmarks.things_eeg_rsa.benchmark import ThingsEEGRsaBenchmark, model_subject
    from model_registry import load_model

    probe = load_benchmark(benchmark, **benchmark_options)
    if isinstance(probe, ThingsEEGRsaBenchmark):
        if roi is not None:
            raise ValueError(f"--roi applies to fMRI ROI benchmarks, not to {benchmark}")
        test = load_benchmark(benchmark, **{**benchmark_options, "n_permutations": 0, "n_bootstrap": 0})
        subjects, rdms, times = test.eeg()  # (n_subjects, n_times, n_pairs)
        if subject is not None and int(subject) not in subjects:
            raise ValueError(f"subject {subject} has no EEG for {benchmark} (subjects {subjects})")
        if time is not None and not times[0] - 1e-6 <= time <= times[-1] + 1e-6:
            raise ValueError(f"time {time * 1000:.0f} ms is outside the EEG epoch "
                             f"({times[0] * 1000:.0f}..{times[-1] * 1000:.0f} ms)")
        candidate = load_model(model, **(model_options or {})) if isinstance(model, str) else model
        layers = [layer] if layer else default_layers(candidate)
        # the images in the EEG RDMs' order, as the benchmark shows them (place_on_screen); ids travel along
        features = layer_features(candidate, test.shown_stimuli, test.stimulus_set, layers)
        layers = features.expand(layers)  # a module run several times: one RDM per step
        models = model_rdms([features[name] for name in layers])  # (n_layers, n_pairs)
        score = test.score_rdms(models, layers, getattr(candidate, "identifier", str(model)),
                                subject=model_subject(candidate), stimulus_ids=features.stimulus_ids)
        chosen = layer or score.attrs["best_layer"]
        if time is None:
            similarity = score.attrs["similarity"].sel(layer=chosen).mean("subject").values
            window = (times >= test.window[0] - 1e-9) & (times <= test.window[1] + 1e-9)
            index = int(np.argmax(np.where(window, similarity, -np.inf)))
            when = "peak"
        else:
            index, when = int(np.argmin(np.abs(times - time))), "chosen"
        scored = [int(subject)] if subject is not None else list(score.attrs["subjects"])
        eeg = rdms[[subjects.index(s) for s in scored], index].mean(axis=0)
        model_id = getattr(candidate, "identifier", str(model))
        title = (f"{model_id} on {test.identifier}\n{_subjects_text(scored)} \u00b7 model layer {chosen} "
                 f"(1 - Pearson) \u00b7 EEG RDM ({test.method}) at {times[index] * 1000:.0f} ms ({when})")
        who = f"subject {scored[0]}" if subject is not None else "subject mean"
        panels = [(f"model RDM: {chosen}", models[layers.index(chosen)], "1 - Pearson r (layer outputs)"),
                  (f"EEG RDM at {times[index] * 1000:.0f} ms, {who}", eeg, _eeg_unit(test.method))]
        categories = _categories(eeg_data.stimulus_set("test", test.root))
        return RdmView(panels, categories, title, chosen, float(times[index]))
    if isinstance(probe, RoiRsaBenchmark):
        if time is not None:
            raise ValueError(f"--time applies to time-resolved EEG benchmarks, not to {benchmark}")
        data = probe.data
        if roi is not None and roi not in data.rdms:
            raise ValueError(f"ROI {roi!r} is not in {benchmark} (ROIs {list(data.rois)})")
        if subject is not None and str(subject) not in [str(s) for s in data.subjects]:
            raise ValueError(f"subject {subject} is not in {benchmark} (subjects {list(data.subjects)})")
        candidate = load_model(model, **(model_options or {})) if isinstance(model, str) else model
        layers = [layer] if layer else default_layers(candidate)
        stimuli = shown_at(data.stimuli, data.stimulus_degrees, probe.place_on_screen, probe.identifier)
        features = layer_features(candidate, stimuli, data.stimulus_set, layers)
        layers = features.expand(layers)  # a module run several times: one RDM per step
        # the model RDMs carry their stimulus ids: shown beside (and scored against) the ROI RDMs only in their order
        found = ModelRDMs(model_rdms([features[name] for name in layers]), tuple(layers), features.stimulus_ids,
                          str(getattr(candidate, "identifier", model)))
        check_stimulus_order(found.stimulus_ids, data.stimulus_ids, f"model {found.model} RDMs",
                             f"the {data.dataset} ROI RDMs")
        models = found.rdms
        rois = [roi] if roi else list(data.rois)
        if layer:
            chosen = layer
        else:
            probe.n_bootstrap = 0  # the best layer only; no confidence intervals needed
            chosen = probe.score_rdms(found).attrs["best_layer"][rois[0]]
        subjects = [str(s) for s in data.subjects]
        rows = [subjects.index(str(subject))] if subject is not None else list(range(len(subjects)))
        who = f"subject {subject}" if subject is not None else "subject mean"
        model_id = getattr(candidate, "identifier", str(model))
        panels = [(f"model RDM: {chosen}", models[layers.index(chosen)], "1 - Pearson r (layer outputs)")]
        panels += [(f"{name} RDM, {who}", data.rdms[name][rows].mean(axis=0), "1 - Pearson r (voxels)")
                   for name in rois]
        shown = [subjects[r] for r in rows]
        title = (f"{model_id} on {probe.identifier}\n{_subjects_text(shown)} \u00b7 model layer {chosen} "
                 f"(1 - Pearson) \u00b7 {data.dataset} ROI RDMs (1 - Pearson): {', '.join(rois)}")
        return RdmView(panels, _categories(data.stimulus_set()), title, chosen)
    raise ValueError(f"{benchmark} has no brain RDMs to show; --kind rdm works with things-eeg-rsa* and fMRI ROI "
                     f"RSA benchmarks")


def plot_rdm_view(model, benchmark: str, path: str | Path, **options) -> Path:
    """:func:`rdm_view` drawn by :func:`realnet_plugin.plots.plot_rdms` to ``path`` (``.png`` or ``.pdf``)."""
    from .plots import _check_suffix, plot_rdms

    path = _check_suffix(path)
    view = rdm_view(model, benchmark, **options)
    return plot_rdms(view.panels, path, title=view.title, categories=view.categories)
