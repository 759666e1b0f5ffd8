"""Figures of benchmark results (PNG or PDF, chosen by the file suffix), written atomically."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from model_registry.atomic import atomic_path

FIGURE_SUFFIXES = (".png", ".pdf")


def _figure(width: float = 6.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), constrained_layout=True)


def save_figure(figure, path: str | Path) -> Path:
    """Save ``figure`` to ``path`` (``.png`` at 150 dpi or ``.pdf``) atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"figure path must end in {' or '.join(FIGURE_SUFFIXES)}, got {path}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        figure.savefig(tmp, dpi=150, format=path.suffix[1:].lower())
    plt.close(figure)
    return path


def plot_robustness_curves(results: Mapping[str, object], path: str | Path) -> Path:
    """Accuracy vs epsilon (in /255 units) for several models: ``{label: robustness Score}`` -> figure file."""
    if not results:
        raise ValueError("no results to plot")
    figure, axis = _figure()
    for label, result in results.items():
        attrs = _attrs(result)
        for key in ("epsilons", "accuracies"):
            if key not in attrs:
                raise ValueError(f"result {label!r} is not a robustness score (no {key!r} in attrs)")
        epsilons = np.asarray(attrs["epsilons"], dtype=float) * 255
        value = result["score"] if isinstance(result, dict) else float(result)
        axis.plot(epsilons, attrs["accuracies"], marker="o", label=f"{label} (AUC {value:.2f})")
    attack = _attrs(next(iter(results.values()))).get("attack", "attack").upper()
    axis.set(xlabel="epsilon (x 1/255, L-inf, pixel space)", ylabel="accuracy", ylim=(-0.02, 1.02),
             title=f"{attack} robustness")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def _data_array(value):
    """A DataArray from a Score attribute or from its JSON form (``{'dims', 'values', 'coords'}``)."""
    import xarray as xr

    if isinstance(value, dict) and {"dims", "values"} <= set(value):
        coords = {k: v for k, v in value.get("coords", {}).items() if k in value["dims"]}
        return xr.DataArray(np.asarray(value["values"], dtype=float), dims=value["dims"], coords=coords)
    return value


def _attrs(result) -> dict:
    return result if isinstance(result, dict) else dict(result.attrs)


def plot_time_course(result, path: str | Path, title: str | None = None) -> Path:
    """EEG RSA time courses: subject-mean similarity per layer, the noise-ceiling band, significant clusters.

    ``result``: a ``things-eeg-rsa`` Score (or its JSON dict from ``realnet score --json``).
    """
    attrs = _attrs(result)
    similarity = _data_array(attrs["similarity"])  # (subject, layer, time)
    times = np.asarray(similarity["time"].values, dtype=float) * 1000
    figure, axis = _figure(7.0, 4.2)
    lower = np.asarray(_data_array(attrs["ceiling_lower"]).values, dtype=float)
    upper = np.asarray(_data_array(attrs["ceiling_upper"]).values, dtype=float)
    if np.isfinite(lower).any():
        axis.fill_between(times, lower, upper, color="0.85", label="noise ceiling")
    clusters = attrs.get("clusters", {}) or {}
    colours = {}
    for layer in similarity["layer"].values:
        mean = similarity.sel(layer=layer).mean("subject").values
        (line,) = axis.plot(times, mean, label=str(layer), linewidth=1.5)
        colours[str(layer)] = line.get_color()
    base = axis.get_ylim()[0]
    step = 0.02 * (axis.get_ylim()[1] - base)
    for index, (layer, found) in enumerate(clusters.items()):
        for cluster in found:
            if cluster["p"] < 0.05:
                axis.plot([cluster["start"] * 1000, cluster["end"] * 1000], [base + step * (index + 1)] * 2,
                          color=colours.get(layer, "k"), linewidth=3, solid_capstyle="butt")
    axis.axhline(0, color="k", linewidth=0.5)
    axis.axvline(0, color="k", linewidth=0.5, linestyle=":")
    model = attrs.get("model_identifier", "")
    axis.set(xlabel="time from stimulus onset (ms)", ylabel=f"{attrs.get('comparison', 'spearman')} r (model, EEG RDM)",
             title=title or f"{model} on {attrs.get('benchmark_identifier', 'things-eeg-rsa')}".strip())
    axis.legend(fontsize=8, ncol=2)
    return save_figure(figure, path)


def plot_improvement(result_a, result_b, path: str | Path, layer: str | None = None,
                     label_a: str | None = None, label_b: str | None = None) -> Path:
    """Model A minus model B similarity over time at one layer (default: A's best), with A/B as lines."""
    attrs_a, attrs_b = _attrs(result_a), _attrs(result_b)
    layer = layer or attrs_a.get("best_layer")
    a, b = _data_array(attrs_a["similarity"]), _data_array(attrs_b["similarity"])
    for name, table in (("A", a), ("B", b)):
        if layer not in table["layer"].values:
            raise ValueError(f"layer {layer!r} is not among model {name}'s layers {list(table['layer'].values)}")
    a, b = a.sel(layer=layer), b.sel(layer=layer)
    shared = sorted(set(a["subject"].values.tolist()) & set(b["subject"].values.tolist()))
    if not shared:
        raise ValueError("the two results share no subject; cannot compare them")
    a, b = a.sel(subject=shared), b.sel(subject=shared)
    times = np.asarray(a["time"].values, dtype=float) * 1000
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7.0, 5.0), constrained_layout=True)
    label_a = label_a or attrs_a.get("model_identifier", "A")
    label_b = label_b or attrs_b.get("model_identifier", "B")
    top.plot(times, a.mean("subject"), label=label_a)
    top.plot(times, b.mean("subject"), label=label_b)
    top.set(ylabel="similarity", title=f"layer {layer}")
    top.legend(fontsize=8)
    difference = (a - b).mean("subject").values
    bottom.plot(times, difference, color="k")
    bottom.axhline(0, color="k", linewidth=0.5)
    bottom.set(xlabel="time from stimulus onset (ms)", ylabel=f"{label_a} - {label_b}")
    return save_figure(figure, path)


def plot_rdm(rdm: np.ndarray, path: str | Path, title: str = "RDM", labels=None) -> Path:
    """Heatmap of one RDM, condensed ``(n_pairs,)`` or square ``(n, n)``."""
    from scipy.spatial.distance import squareform

    rdm = np.asarray(rdm, dtype=float)
    square = squareform(rdm, checks=False) if rdm.ndim == 1 else rdm
    figure, axis = _figure(5.0, 4.4)
    image = axis.imshow(square, cmap="viridis")
    figure.colorbar(image, ax=axis, label="dissimilarity")
    axis.set(title=title, xlabel="image", ylabel="image")
    if labels is not None and len(labels) <= 40:
        axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        axis.set_yticks(range(len(labels)), labels, fontsize=6)
    return save_figure(figure, path)


def plot_roi_layers(result, path: str | Path, title: str | None = None) -> Path:
    """fMRI ROI RSA: grouped bars of subject-mean similarity per ROI and layer, lower ceilings as ticks."""
    attrs = _attrs(result)
    table = _data_array(attrs["similarity"])  # (roi, layer, subject)
    rois, layers = list(table["roi"].values), list(table["layer"].values)
    means = table.mean("subject").values
    sems = table.std("subject").values / np.sqrt(max(1, table.sizes["subject"]))
    figure, axis = _figure(max(6.0, 0.35 * len(rois) * len(layers) + 2), 4.2)
    width = 0.8 / len(layers)
    x = np.arange(len(rois))
    for j, layer in enumerate(layers):
        axis.bar(x + j * width - 0.4 + width / 2, means[:, j], width, yerr=sems[:, j], label=str(layer))
    lower = np.asarray(_data_array(attrs["ceiling_lower"]).values, dtype=float)
    axis.scatter(x, lower, marker="_", s=800, color="k", label="lower noise ceiling", zorder=3)
    axis.set_xticks(x, rois)
    axis.set(ylabel=f"{attrs.get('method', 'spearman')} r", title=title or attrs.get("dataset", "fMRI ROI RSA"))
    axis.legend(fontsize=7, ncol=max(1, len(layers) // 8 + 1))
    return save_figure(figure, path)
