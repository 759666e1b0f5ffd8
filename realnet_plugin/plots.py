"""Figures of benchmark results (PNG or PDF, chosen by the file suffix), written atomically.

Every figure is titled with the model, the benchmark, the subjects and the method, and stays readable in black and
white: series differ in line style and marker (lines) or hatch (bars), not only in colour (:func:`series_styles`).
Each ``plot_*`` function has a ``draw_*`` twin that returns the matplotlib ``Figure`` unsaved, so its artists can be
inspected; artists a reader looks for carry a ``gid`` (``'noise-ceiling'``, ``'cluster:<layer>'``,
``'cluster-note'``, ``'rdm:<panel>'``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from model_registry.storage.atomic import atomic_path

from .results import model_label

FIGURE_SUFFIXES = (".png", ".pdf")
ALPHA = 0.05  # clusters with p below this are drawn
CEILING_LABEL = "noise ceiling (lower\u2013upper bound)"
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")
_HATCHES = ("", "//", "\\\\", "xx", "..", "oo", "--", "++", "||", "**", "OO", "//..")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(width: float = 6.0, height: float = 4.0):
    """A new ``(figure, axis)`` with constrained layout, on the non-interactive Agg backend."""
    return _pyplot().subplots(figsize=(width, height), constrained_layout=True)


def save_figure(figure, path: str | Path) -> Path:
    """Save ``figure`` to ``path`` (``.png`` at 150 dpi or ``.pdf``) atomically and close it.

    Raises ``ValueError`` for any other suffix (before anything is written).
    """
    plt = _pyplot()
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        plt.close(figure)
        raise ValueError(f"figure path must end in {' or '.join(FIGURE_SUFFIXES)}, got {path}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        figure.savefig(tmp, dpi=150, format=path.suffix[1:].lower())
    plt.close(figure)
    return path


def _check_suffix(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"figure path must end in {' or '.join(FIGURE_SUFFIXES)}, got {path}")
    return path


def series_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` RGBA colours, all different for ``n <= 60``: ``tab10`` up to 10 series, then ``tab20``,
    ``tab20b`` and ``tab20c`` (60 colours); beyond 60 they repeat (line style, marker and hatch still differ)."""
    from matplotlib import colormaps

    if n <= 10:
        palette = [colormaps["tab10"](i) for i in range(10)]
    else:
        palette = [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    return [palette[i % len(palette)] for i in range(n)]


def series_styles(n: int) -> list[dict]:
    """Per series ``{'color', 'linestyle', 'marker', 'hatch'}``: colour from :func:`series_colours`; the
    (line style, marker) pair is different for each of the first 48 series, so a black-and-white print still
    tells them apart."""
    colours = series_colours(n)
    return [{"color": colours[i], "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
             "marker": _MARKERS[(i // len(_LINESTYLES) + i) % len(_MARKERS)],
             "hatch": _HATCHES[i % len(_HATCHES)]} for i in range(n)]


def _data_array(value):
    """A DataArray from a Score attribute or from its JSON form (``{'dims', 'values', 'coords'}``)."""
    import xarray as xr

    if isinstance(value, dict) and {"dims", "values"} <= set(value):
        coords = {k: v for k, v in value.get("coords", {}).items() if k in value["dims"]}
        return xr.DataArray(np.asarray(value["values"], dtype=float), dims=value["dims"], coords=coords)
    return value


def _attrs(result) -> dict:
    return result if isinstance(result, dict) else dict(result.attrs)


def _subjects_text(subjects: Sequence) -> str:
    subjects = [str(s) for s in subjects]
    shown = ", ".join(subjects[:8]) + (", ..." if len(subjects) > 8 else "")
    return f"{len(subjects)} subject{'s' if len(subjects) != 1 else ''} ({shown})"


def _benchmark_id(attrs: dict, default: str) -> str:
    if attrs.get("benchmark_identifier"):
        return str(attrs["benchmark_identifier"])
    if default == "things-eeg-rsa" and attrs.get("method") not in (None, "decoding-svm"):
        return f"things-eeg-rsa-{attrs['method']}"
    return default


def figure_title(attrs: dict, *, kind: str, model: str | None = None, first_line: str | None = None) -> str:
    """Two lines: ``<model> on <benchmark>`` (or ``first_line``), then subjects and method.

    ``kind``: ``'eeg'`` (time-resolved EEG RSA), ``'roi'`` (fMRI ROI RSA) or ``'robustness'``.
    """
    model = model_label(attrs, model)  # "<id> (random init, seed N)" for a random initialisation
    if kind == "eeg":
        similarity = _data_array(attrs["similarity"])
        subjects = attrs.get("subjects") or similarity["subject"].values.tolist()
        method = (f"EEG RDMs: {attrs.get('method', '?')}, {attrs.get('comparison', 'spearman')} r with "
                  f"model RDMs (1 - Pearson)")
        benchmark = _benchmark_id(attrs, "things-eeg-rsa")
        second = f"{_subjects_text(subjects)} \u00b7 {method}"
    elif kind == "roi":
        similarity = _data_array(attrs["similarity"])
        benchmark = _benchmark_id(attrs, f"{attrs.get('dataset', 'fMRI')} ROI RSA")
        second = (f"{_subjects_text(similarity['subject'].values.tolist())} \u00b7 {attrs.get('method', 'spearman')} r"
                  f" of model RDMs (1 - Pearson) with ROI RDMs ({attrs.get('dataset', 'fMRI')})")
    elif kind == "robustness":
        benchmark = _benchmark_id(attrs, f"{attrs.get('attack', 'attack')}-robustness")
        second = (f"{attrs.get('n_images', '?')} images ({attrs.get('image_set', '?')}, labels "
                  f"{attrs.get('labels', '?')}) \u00b7 {str(attrs.get('attack', '?')).upper()}, L-inf, pixel space")
    else:
        raise ValueError(f"unknown figure kind {kind!r}; expected 'eeg', 'roi' or 'robustness'")
    return f"{first_line or f'{model} on {benchmark}'}\n{second}"


# --- robustness ---------------------------------------------------------------------------------------------------
def plot_robustness_curves(results: Mapping[str, object], path: str | Path) -> Path:
    """Accuracy vs epsilon (in /255 units) for several models: ``{label: robustness Score or its JSON}`` -> file.

    Raises ``ValueError`` for no results or a result without ``epsilons``/``accuracies``.
    """
    path = _check_suffix(path)
    if not results:
        raise ValueError("no results to plot")
    for label, result in results.items():
        for key in ("epsilons", "accuracies"):
            if key not in _attrs(result):
                raise ValueError(f"result {label!r} is not a robustness score (no {key!r} in attrs)")
    figure, axis = _figure(7.0, 4.2)
    for style, (label, result) in zip(series_styles(len(results)), results.items()):
        attrs = _attrs(result)
        epsilons = np.asarray(attrs["epsilons"], dtype=float) * 255
        value = result["score"] if isinstance(result, dict) else float(result)
        axis.plot(epsilons, attrs["accuracies"], color=style["color"], linestyle=style["linestyle"],
                  marker=style["marker"], label=f"{label} (AUC {value:.2f})")
    first = _attrs(next(iter(results.values())))
    models = ", ".join(results) if len(results) <= 3 else f"{len(results)} models"
    benchmark = _benchmark_id(first, f"{first.get('attack', 'attack')}-robustness")
    axis.set(xlabel="epsilon (x 1/255, L-inf, pixel space)", ylabel="accuracy", ylim=(-0.02, 1.02))
    axis.set_title(figure_title(first, kind="robustness", first_line=f"{models} on {benchmark}"), fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(figure, path)


# --- EEG time courses ------------------------------------------------------------------------------------------------
def _time_course_inputs(attrs: dict):
    if "similarity" not in attrs:
        raise ValueError("result has no 'similarity' attribute; is it a things-eeg-rsa score?")
    similarity = _data_array(attrs["similarity"])
    if tuple(similarity.dims) != ("subject", "layer", "time"):
        raise ValueError(f"expected similarity dims ('subject', 'layer', 'time'), got {tuple(similarity.dims)}")
    return similarity, np.asarray(similarity["time"].values, dtype=float) * 1000


def _cluster_note(n_subjects: int, clusters: dict, what: str = "cluster test") -> str | None:
    if n_subjects < 2:
        return (f"no {what}: {n_subjects} subject{'s' if n_subjects != 1 else ''} scored "
                f"(the test needs 2 or more)")
    if not clusters:
        return f"no {what} in this result (n_permutations = 0)"
    return None


def _draw_cluster_rows(axis, rows: list[tuple[str, list[tuple[float, float]], dict]], half_step: float,
                       top: float, step: float) -> None:
    """One row of bars per entry ``(name, [(start_ms, end_ms), ...], style)`` below ``top``, labelled at the right."""
    for k, (name, spans, style) in enumerate(rows):
        y = top - step * (k + 1)
        for start, end in spans:
            axis.hlines(y, start - half_step, end + half_step, color=style["color"], linewidth=4,
                        gid=f"cluster:{name}")
            axis.plot([start - half_step, end + half_step], [y, y], linestyle="none", marker=style["marker"],
                      markersize=4, color="k", markerfacecolor="white")
        axis.annotate(name, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(3, 0),
                      textcoords="offset points", va="center", fontsize=7)


def draw_time_course(result, title: str | None = None):
    """The time-course figure (unsaved): subject-mean similarity per layer over time (ms), the lower-upper noise
    ceiling band, significant clusters (p < 0.05) as one row of bars per layer in the layer's colour below the
    curves, or a note saying why there are none.

    ``result``: a ``things-eeg-rsa`` Score or its JSON dict (``realnet score --json``); ``title`` replaces the first
    title line (model on benchmark). Raises ``ValueError`` for a result without time-resolved similarity.
    """
    attrs = _attrs(result)
    similarity, times = _time_course_inputs(attrs)
    layers = [str(layer) for layer in similarity["layer"].values]
    n_subjects = similarity.sizes["subject"]
    figure, axis = _figure(8.0, 4.8)
    lower = np.asarray(_data_array(attrs["ceiling_lower"]).values, dtype=float) if "ceiling_lower" in attrs else None
    upper = np.asarray(_data_array(attrs["ceiling_upper"]).values, dtype=float) if "ceiling_upper" in attrs else None
    notes = []
    if lower is not None and upper is not None and np.isfinite(lower).any():
        axis.fill_between(times, lower, upper, color="0.82", linewidth=0, label=CEILING_LABEL, gid="noise-ceiling")
        extremes = [np.nanmin(lower), np.nanmax(upper)]
    else:
        notes.append("no noise ceiling (needs 2 or more subjects' EEG)")
        extremes = []
    styles = dict(zip(layers, series_styles(len(layers))))
    every = max(1, len(times) // 10)
    for index, layer in enumerate(layers):
        mean = similarity.sel(layer=similarity["layer"].values[index]).mean("subject").values
        style = styles[layer]
        axis.plot(times, mean, color=style["color"], linestyle=style["linestyle"], marker=style["marker"],
                  markevery=(index % every, every), markersize=4, linewidth=1.5, label=layer)
        extremes += [np.nanmin(mean), np.nanmax(mean)]
    clusters = attrs.get("clusters") or {}
    rows = [(layer, [(c["start"] * 1000, c["end"] * 1000) for c in clusters.get(layer, []) if c["p"] < ALPHA],
             styles[layer]) for layer in layers]
    rows = [row for row in rows if row[1]]
    low, high = min(extremes + [0.0]), max(extremes + [0.0])
    step = 0.06 * ((high - low) or 1.0)
    half = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 0.5
    _draw_cluster_rows(axis, rows, half, low - 0.5 * step, step)
    note = _cluster_note(n_subjects, clusters)
    if note is None and not rows:
        note = f"no significant cluster (cluster permutation test, p < {ALPHA})"
    if note:
        notes.append(note)
    if notes:
        axis.text(0.01, 0.02, "; ".join(notes), transform=axis.transAxes, fontsize=7, style="italic", va="bottom",
                  bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9}, gid="cluster-note")
    if rows:
        axis.plot([], [], color="k", linewidth=4, label=f"clusters p < {ALPHA} (rows below)")
    axis.set_ylim(low - step * (len(rows) + 1.5), high + step)
    axis.axhline(0, color="k", linewidth=0.5)
    axis.axvline(0, color="k", linewidth=0.5, linestyle=":")
    axis.set(xlabel="time from stimulus onset (ms)",
             ylabel=f"{attrs.get('comparison', 'spearman')} r (model RDM, EEG RDM)")
    axis.set_title(figure_title(attrs, kind="eeg", first_line=title), fontsize=9)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                title="layer (subject mean)", title_fontsize=7)
    return figure


def plot_time_course(result, path: str | Path, title: str | None = None) -> Path:
    """:func:`draw_time_course` saved to ``path`` (``.png`` or ``.pdf``); returns the path."""
    path = _check_suffix(path)
    return save_figure(draw_time_course(result, title), path)


def draw_improvement(result_a, result_b, layer: str | None = None, label_a: str | None = None,
                     label_b: str | None = None, *, n_permutations: int = 1000, seed: int = 0,
                     spans: Sequence[tuple[float, float]] | None = None):
    """Model A vs model B at one layer (default: A's best), unsaved figure.

    ``spans``: the significant clusters ``[(start, end)]`` s of a test already run (e.g.
    :func:`realnet_plugin.improvement`'s, inside its cluster window); ``None`` runs the test here.

    Top: both subject-mean time courses (shared subjects only) and A's noise-ceiling band. Bottom: the mean
    difference A - B with clusters where A and B differ (paired two-sided cluster permutation test over the shared
    subjects, p < 0.05, :func:`benchmarks.rsa.compare_models_over_time`) as bars below the curve, or a note when
    fewer than 2 subjects are shared. Raises ``ValueError`` for a layer missing from either result, results sharing
    no subject or different time axes.
    """
    from benchmarks.rsa import compare_models_over_time

    attrs_a, attrs_b = _attrs(result_a), _attrs(result_b)
    (a, times), (b, times_b) = _time_course_inputs(attrs_a), _time_course_inputs(attrs_b)
    layer = layer or attrs_a.get("best_layer")
    for name, table in (("A", a), ("B", b)):
        if layer not in [str(v) for v in table["layer"].values]:
            raise ValueError(f"layer {layer!r} is not among model {name}'s layers {list(table['layer'].values)}")
    if times.shape != times_b.shape or not np.allclose(times, times_b):
        raise ValueError(f"the two results have different time axes ({len(times)} vs {len(times_b)} points)")
    a = a.isel(layer=[str(v) for v in a["layer"].values].index(layer))
    b = b.isel(layer=[str(v) for v in b["layer"].values].index(layer))
    in_b = set(b["subject"].values.tolist())
    shared = [s for s in a["subject"].values.tolist() if s in in_b]
    if not shared:
        raise ValueError("the two results share no subject; cannot compare them")
    r_a, r_b = a.sel(subject=shared).values, b.sel(subject=shared).values  # (n_shared, n_times)
    label_a = label_a or model_label(attrs_a, attrs_a.get("model_identifier") or "A")
    label_b = label_b or model_label(attrs_b, attrs_b.get("model_identifier") or "B")
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8.0, 5.6), constrained_layout=True)
    lower = np.asarray(_data_array(attrs_a["ceiling_lower"]).values, dtype=float) if "ceiling_lower" in attrs_a \
        else None
    upper = np.asarray(_data_array(attrs_a["ceiling_upper"]).values, dtype=float) if "ceiling_upper" in attrs_a \
        else None
    if lower is not None and upper is not None and np.isfinite(lower).any():
        top.fill_between(times, lower, upper, color="0.82", linewidth=0, label=CEILING_LABEL, gid="noise-ceiling")
    styles = series_styles(2)
    every = max(1, len(times) // 10)
    for index, (label, values) in enumerate(((label_a, r_a), (label_b, r_b))):
        top.plot(times, values.mean(axis=0), color=styles[index]["color"], linestyle=styles[index]["linestyle"],
                 marker=styles[index]["marker"], markevery=(index * every // 2, every), markersize=4, label=label)
    top.axhline(0, color="k", linewidth=0.5)
    top.set(ylabel=f"{attrs_a.get('comparison', 'spearman')} r")
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    difference = (r_a - r_b).mean(axis=0)
    bottom.plot(times, difference, color="k", linewidth=1.5, label=f"{label_a} - {label_b}")
    if len(shared) > 1:
        sem = (r_a - r_b).std(axis=0, ddof=1) / np.sqrt(len(shared))
        bottom.fill_between(times, difference - sem, difference + sem, color="0.8", linewidth=0, label="± SEM")
    bottom.axhline(0, color="k", linewidth=0.5)
    rows, note = [], None
    if len(shared) < 2:
        note = _cluster_note(len(shared), {}, "paired cluster test").replace("scored", "shared by the two results")
    elif spans is not None:
        if spans:
            rows = [("A vs B", list(spans), {"color": "k", "marker": "o"})]
        else:
            note = f"no significant difference (paired cluster permutation test, p < {ALPHA})"
    elif not np.isfinite(r_a - r_b).all():
        note = "no paired cluster test: the similarity is undefined at some time points (see left_out_times)"
    elif np.any((r_a - r_b).std(axis=0) == 0):
        note = "no paired cluster test: A - B is identical in every subject at some time point (t undefined)"
    else:
        test = compare_models_over_time(r_a, r_b, n_permutations=n_permutations, seed=seed).test
        spans = [(times[c[0]], times[c[-1]]) for c, p in zip(test.clusters, test.cluster_p_values) if p < ALPHA]
        if spans:
            rows = [("A vs B", spans, {"color": "k", "marker": "o"})]
        else:
            note = f"no significant difference (paired cluster permutation test, p < {ALPHA})"
    low = min(float(np.nanmin(difference)), 0.0)
    high = max(float(np.nanmax(difference)), 0.0)
    step = 0.08 * ((high - low) or 1.0)
    half = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 0.5
    _draw_cluster_rows(bottom, rows, half, low - 0.5 * step, step)
    if rows:
        bottom.plot([], [], color="k", linewidth=4, label=f"A \u2260 B, clusters p < {ALPHA}")
    if note:
        bottom.text(0.01, 0.02, note, transform=bottom.transAxes, fontsize=7, style="italic", va="bottom",
                    bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9}, gid="cluster-note")
    bottom.set_ylim(low - step * (len(rows) + 1.5), high + step)
    bottom.set(xlabel="time from stimulus onset (ms)", ylabel="difference (A - B)")
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    benchmark = _benchmark_id(attrs_a, "things-eeg-rsa")
    first = f"{label_a} (A) vs {label_b} (B) on {benchmark}, layer {layer}"
    title = figure_title(attrs_a, kind="eeg", first_line=first).split("\n")
    title[1] = title[1].replace(_subjects_text(attrs_a.get("subjects") or a["subject"].values.tolist()),
                                f"shared {_subjects_text(shared)}")
    figure.suptitle("\n".join(title), fontsize=9)
    return figure


def plot_improvement(result_a, result_b, path: str | Path, layer: str | None = None,
                     label_a: str | None = None, label_b: str | None = None, *, n_permutations: int = 1000,
                     seed: int = 0, spans: Sequence[tuple[float, float]] | None = None) -> Path:
    """:func:`draw_improvement` saved to ``path`` (``.png`` or ``.pdf``); returns the path."""
    path = _check_suffix(path)
    return save_figure(draw_improvement(result_a, result_b, layer, label_a, label_b, n_permutations=n_permutations,
                                        seed=seed, spans=spans), path)


# --- RDMs -------------------------------------------------------------------------------------------------------------
def category_order(categories: Sequence | None) -> tuple[np.ndarray | None, list[tuple[str, int, int]]]:
    """``(order, blocks)``: the stable permutation grouping images by category (categories in order of first
    appearance) and ``[(category, start, stop), ...]`` in the new order. ``(None, [])`` when there are no
    categories or every image is its own category (nothing to group)."""
    if categories is None:
        return None, []
    categories = [str(c) for c in categories]
    first_seen = list(dict.fromkeys(categories))
    if len(first_seen) in (0, len(categories)):
        return None, []
    rank = {c: i for i, c in enumerate(first_seen)}
    order = np.asarray(sorted(range(len(categories)), key=lambda i: rank[categories[i]]), dtype=int)
    blocks, start = [], 0
    for category in first_seen:
        stop = start + categories.count(category)
        blocks.append((category, start, stop))
        start = stop
    return order, blocks


def _square(rdm, name: str) -> np.ndarray:
    from scipy.spatial.distance import squareform

    rdm = np.asarray(rdm, dtype=float)
    if rdm.ndim == 1:
        n = int(round((1 + np.sqrt(1 + 8 * rdm.size)) / 2))
        if n * (n - 1) // 2 != rdm.size:
            raise ValueError(f"RDM {name!r}: {rdm.size} values is not a condensed RDM (n (n - 1) / 2 pairs)")
        return squareform(rdm, checks=False)
    if rdm.ndim != 2 or rdm.shape[0] != rdm.shape[1]:
        raise ValueError(f"RDM {name!r} must be condensed (n_pairs,) or square (n, n), got shape {rdm.shape}")
    return rdm


def draw_rdms(panels: Sequence[tuple[str, np.ndarray, str]], *, title: str, categories: Sequence | None = None,
              labels: Sequence[str] | None = None):
    """Heatmaps of RDMs side by side (unsaved figure), each with its own colour bar (viridis: its luminance rises
    monotonically, so grey prints keep the order).

    panels: ``[(name, rdm, colour-bar label), ...]``, ``rdm`` condensed ``(n_pairs,)`` or square ``(n, n)``, all over
    the same ``n`` images in the same order. ``categories`` ``(n,)``: images are regrouped by category (stable) and
    block borders drawn; ``labels`` ``(n,)``: tick labels when ``n <= 40``. Raises ``ValueError`` for mismatched sizes.
    """
    if not panels:
        raise ValueError("no RDM to draw")
    squares = [_square(rdm, name) for name, rdm, _ in panels]
    n = squares[0].shape[0]
    for (name, _, _), square in zip(panels, squares):
        if square.shape[0] != n:
            raise ValueError(f"RDM {name!r} covers {square.shape[0]} images, the first panel {n}")
    for what, values in (("categories", categories), ("labels", labels)):
        if values is not None and len(values) != n:
            raise ValueError(f"{what} has {len(values)} entries for RDMs of {n} images")
    order, blocks = category_order(categories)
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 0.4, 4.9), constrained_layout=True,
                                squeeze=False)
    for axis, (name, _, unit), square in zip(axes[0], panels, squares):
        shown = square[np.ix_(order, order)] if order is not None else square
        image = axis.imshow(shown, cmap="viridis", interpolation="nearest")
        image.set_gid(f"rdm:{name}")
        figure.colorbar(image, ax=axis, label=unit, shrink=0.8)
        axis.set_title(name, fontsize=9)
        if blocks:
            for _, start, _stop in blocks[1:]:
                for line in (axis.axhline, axis.axvline):
                    line(start - 0.5, color="white", linewidth=0.8)
            if len(blocks) <= 20:
                centres = [(start + stop - 1) / 2 for _, start, stop in blocks]
                axis.set_xticks(centres, [b[0] for b in blocks], rotation=90, fontsize=6)
                axis.set_yticks(centres, [b[0] for b in blocks], fontsize=6)
            axis.set(xlabel="images by category", ylabel="images by category")
        elif labels is not None and n <= 40:
            axis.set_xticks(range(n), list(labels), rotation=90, fontsize=6)
            axis.set_yticks(range(n), list(labels), fontsize=6)
        else:
            axis.set(xlabel="image (dataset order)", ylabel="image (dataset order)")
    figure.suptitle(title, fontsize=9)
    return figure


def plot_rdms(panels: Sequence[tuple[str, np.ndarray, str]], path: str | Path, *, title: str,
              categories: Sequence | None = None, labels: Sequence[str] | None = None) -> Path:
    """:func:`draw_rdms` saved to ``path`` (``.png`` or ``.pdf``); returns the path."""
    path = _check_suffix(path)
    return save_figure(draw_rdms(panels, title=title, categories=categories, labels=labels), path)


def plot_rdm(rdm: np.ndarray, path: str | Path, title: str = "RDM", labels=None, categories=None,
             unit: str = "dissimilarity") -> Path:
    """Heatmap of one RDM, condensed ``(n_pairs,)`` or square ``(n, n)`` (see :func:`draw_rdms`)."""
    return plot_rdms([(title, rdm, unit)], path, title=title, categories=categories, labels=labels)


# --- fMRI ROI x layer ------------------------------------------------------------------------------------------------
def draw_roi_layers(result, title: str | None = None):
    """fMRI ROI RSA (unsaved figure): grouped bars of subject-mean similarity per ROI and layer (error bars: SEM over
    subjects; each layer its own colour and hatch), the lower noise ceiling per ROI as a black tick; the legend sits
    outside the axes, right of the bars. Raises ``ValueError`` for a result without (roi, layer, subject) similarity.
    """
    attrs = _attrs(result)
    if "similarity" not in attrs:
        raise ValueError("result has no 'similarity' attribute; is it an fMRI ROI RSA score?")
    table = _data_array(attrs["similarity"])
    if tuple(table.dims) != ("roi", "layer", "subject"):
        raise ValueError(f"expected similarity dims ('roi', 'layer', 'subject'), got {tuple(table.dims)}")
    rois, layers = [str(r) for r in table["roi"].values], [str(layer) for layer in table["layer"].values]
    means = table.mean("subject").values
    n_subjects = table.sizes["subject"]
    sems = table.std("subject", ddof=1).values / np.sqrt(n_subjects) if n_subjects > 1 else np.zeros_like(means)
    figure, axis = _figure(min(30.0, max(7.0, 0.3 * len(rois) * len(layers) + 3.5)), 4.6)
    width = 0.8 / len(layers)
    x = np.arange(len(rois))
    for j, (layer, style) in enumerate(zip(layers, series_styles(len(layers)))):
        axis.bar(x + j * width - 0.4 + width / 2, means[:, j], width, yerr=sems[:, j], label=layer,
                 color=style["color"], hatch=style["hatch"], edgecolor="k", linewidth=0.4,
                 error_kw={"elinewidth": 0.6, "capsize": 1.5})
    if "ceiling_lower" in attrs:
        lower = np.asarray(_data_array(attrs["ceiling_lower"]).values, dtype=float)
        axis.hlines(lower, x - 0.42, x + 0.42, colors="k", linewidth=2, label="lower noise ceiling", zorder=3,
                    gid="noise-ceiling")
    axis.axhline(0, color="k", linewidth=0.5)
    axis.set_xticks(x, rois)
    axis.set(xlabel="ROI", ylabel=f"{attrs.get('method', 'spearman')} r (subject mean, SEM)")
    axis.set_title(figure_title(attrs, kind="roi", first_line=title), fontsize=9)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                ncol=1 if len(layers) <= 24 else 2, title="layer", title_fontsize=7)
    return figure


def plot_roi_layers(result, path: str | Path, title: str | None = None) -> Path:
    """:func:`draw_roi_layers` saved to ``path`` (``.png`` or ``.pdf``); returns the path."""
    path = _check_suffix(path)
    return save_figure(draw_roi_layers(result, title), path)
