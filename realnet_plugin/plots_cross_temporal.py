"""Figure of a cross-temporal RSA (:func:`benchmarks.things_eeg_rsa.cross_temporal.cross_temporal_rsa`): one heatmap
per block (rows: its recurrent steps, columns: EEG time in ms) of the subject-mean similarity, clusters with p < alpha
outlined in black, each row's peak inside the benchmark's window marked, one shared diverging colour scale centred on
0. Titled with the model, the benchmark, the subjects, the EEG RDM method, the comparison and the cluster test.

Artists carry a ``gid``: ``'heatmap:<block>'`` (the image), ``'cluster:<block>'`` (the outline), ``'peak:<block>'``
(the peak markers), ``'cluster-note'`` (why no clusters are drawn).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .plots import ALPHA, _check_suffix, _pyplot, _subjects_text, save_figure

if TYPE_CHECKING:
    from benchmarks.things_eeg_rsa.cross_temporal import CrossTemporalRSA


@dataclass(frozen=True)
class _Matrix:
    """What the figure draws, from a result object or its ``to_dict()``."""

    layers: list[str]
    blocks: list[str]
    steps: list[int]
    times: np.ndarray  # (n_times,) s
    mean: np.ndarray  # (n_layers, n_times)
    labels: np.ndarray  # (n_layers, n_times) int: 1 + index of the significant cluster holding the cell, else 0
    peaks: np.ndarray  # (n_layers,) s, NaN where undefined
    info: dict


def _matrix(result: CrossTemporalRSA | dict, alpha: float) -> _Matrix:
    from model_registry.extractor import parse_layer

    if isinstance(result, dict):
        info = result
        layers = list(result["layers"])
        times = np.asarray(result["times"], dtype=float)
        mean = np.array([[np.nan if v is None else v for v in row] for row in result["mean"]], dtype=float)
        labels = np.zeros(mean.shape, dtype=int)
        for number, cluster in enumerate(result.get("clusters", []), start=1):
            if cluster["p"] < alpha:
                inside = (times >= cluster["start"] - 1e-9) & (times <= cluster["end"] + 1e-9)
                labels[layers.index(cluster["layer"]), inside] = number
        peaks = np.array([np.nan if v is None else v for v in result["peak_times"]], dtype=float)
        parsed = [parse_layer(name) for name in layers]
        blocks, steps = [m for m, _ in parsed], [0 if s is None else s for _, s in parsed]
    else:
        info = result.to_dict()
        mean_array = result.mean
        layers = [str(v) for v in mean_array["layer"].values]
        blocks = [str(v) for v in mean_array["block"].values]
        steps = [int(v) for v in mean_array["step"].values]
        times, mean = mean_array["time"].values.astype(float), mean_array.values
        labels = np.zeros(mean.shape, dtype=int)
        if result.clusters is not None:
            for number, ((row, cells), p) in enumerate(zip(result.clusters.clusters, result.clusters.cluster_p_values),
                                                       start=1):
                if p < alpha:
                    labels[row, cells] = number
        peaks = result.peak_times().values
    if mean.shape != (len(layers), len(times)) or mean.size == 0:
        raise ValueError(f"cross-temporal result has a similarity matrix of shape {mean.shape}; expected "
                         f"(n_layers={len(layers)}, n_times={len(times)}), both > 0")
    return _Matrix(layers, blocks, steps, times, mean, labels, peaks, info)


def outline_segments(labels: np.ndarray, x_edges: np.ndarray) -> list[list[tuple[float, float]]]:
    """Line segments around the labelled cells of ``labels`` ``(n_rows, n_cols)`` (bool, or int cluster numbers
    with 0 = none) drawn as an image whose row r spans y in [r - 0.5, r + 0.5] and column c spans x in
    [x_edges[c], x_edges[c + 1]]: every edge between cells of different labels, or between a labelled cell and the
    border; so two clusters that touch (same times, neighbouring steps) stay two outlines."""
    padded = np.pad(np.asarray(labels).astype(int), 1)
    segments = []
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # horizontal edge above padded row r+1
    segments += [[(x_edges[c], r - 0.5), (x_edges[c + 1], r - 0.5)] for r, c in zip(rows, cols)]
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # vertical edge left of padded col c+1
    segments += [[(x_edges[c], r - 0.5), (x_edges[c], r + 0.5)] for r, c in zip(rows, cols)]
    return [[(float(x), float(y)) for x, y in segment] for segment in segments]


def draw_cross_temporal(result: CrossTemporalRSA | dict, alpha: float = ALPHA, title: str | None = None):
    """The figure (unsaved ``matplotlib.figure.Figure``) of ``result``: a
    :class:`~benchmarks.things_eeg_rsa.cross_temporal.CrossTemporalRSA` or its ``to_dict()``.

    alpha: clusters with p below it are outlined; title replaces the first title line (``<model> on <benchmark>``).
    Raises ``ValueError`` for a result without a (layer, time) matrix.
    """
    from matplotlib.collections import LineCollection

    data = _matrix(result, alpha)
    info = data.info
    order = list(dict.fromkeys(data.blocks))
    rows = {block: [i for i, b in enumerate(data.blocks) if b == block] for block in order}
    times_ms = data.times * 1000
    step_ms = float(np.median(np.diff(times_ms))) if len(times_ms) > 1 else 10.0
    x_edges = np.concatenate([times_ms - step_ms / 2, [times_ms[-1] + step_ms / 2]])
    finite = data.mean[np.isfinite(data.mean)]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0

    plt = _pyplot()
    figure, axes = plt.subplots(len(order), 1, figsize=(8.0, 1.6 + 0.42 * len(data.layers)), sharex=True,
                                squeeze=False, constrained_layout=True,
                                gridspec_kw={"height_ratios": [len(rows[b]) for b in order]})
    axes = axes[:, 0]
    from matplotlib import colormaps

    colour_map = colormaps["RdBu_r"].with_extremes(bad="0.75")
    image = None
    for axis, block in zip(axes, order):
        index = rows[block]
        image = axis.imshow(data.mean[index], aspect="auto", cmap=colour_map, vmin=-limit, vmax=limit,
                            interpolation="nearest", extent=(x_edges[0], x_edges[-1], len(index) - 0.5, -0.5))
        image.set_gid(f"heatmap:{block}")
        segments = outline_segments(data.labels[index], x_edges)
        if segments:
            axis.add_collection(LineCollection(segments, colors="black", linewidths=1.6, gid=f"cluster:{block}"))
        defined = np.isfinite(data.peaks[index])
        if defined.any():
            axis.plot(data.peaks[index][defined] * 1000, np.flatnonzero(defined), linestyle="none", marker="x",
                      color="black", markersize=5, gid=f"peak:{block}")
        axis.axvline(0, color="0.3", linestyle="--", linewidth=0.8)
        axis.set_yticks(range(len(index)))
        axis.set_yticklabels([f"t{data.steps[i]}" for i in index], fontsize=7)
        axis.set_ylabel(block, fontsize=8, rotation=0, ha="right", va="center")
        axis.tick_params(axis="x", labelsize=7)
    axes[-1].set_xlabel("EEG time (ms after image onset)", fontsize=8)
    colourbar = figure.colorbar(image, ax=list(axes), shrink=0.9)
    colourbar.set_label(f"{info.get('comparison', 'spearman')} r (subject mean)", fontsize=8)
    n_permutations = info.get("n_permutations", 0)
    note = info.get("note") or ""
    if note:
        tested = note
        axes[0].text(0.99, 0.95, note, transform=axes[0].transAxes, ha="right", va="top", fontsize=7,
                     bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9}, gid="cluster-note")
    else:
        tested = (f"outlined: clusters p < {alpha:g} ({info.get('family', 'matrix')}-wise, {n_permutations} "
                  "sign-flip permutations); x: peak in window")
        if not data.labels.any():
            axes[0].text(0.99, 0.95, f"no cluster with p < {alpha:g}", transform=axes[0].transAxes, ha="right",
                         va="top", fontsize=7, bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
                         gid="cluster-note")
    first = title or f"{info.get('model', 'unnamed model')} on {info.get('benchmark', '?')}: model steps x EEG time"
    figure.suptitle(f"{first}\n{_subjects_text(info.get('subjects', []))} \u00b7 EEG RDMs: {info.get('method', '?')}, "
                    f"{info.get('comparison', 'spearman')} r with model RDMs (1 - Pearson)\n{tested}", fontsize=8)
    return figure


def plot_cross_temporal(result: CrossTemporalRSA | dict, path: str | Path, alpha: float = ALPHA,
                        title: str | None = None) -> Path:
    """:func:`draw_cross_temporal` saved to ``path`` (``.png`` or ``.pdf``, checked before drawing), atomically."""
    path = _check_suffix(path)
    return save_figure(draw_cross_temporal(result, alpha, title), path)
