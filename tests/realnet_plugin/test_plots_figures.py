"""Figures drawn from real benchmark results: cluster bars, ceiling band, notes, RDM heatmaps, ROI x layer charts.

Results come from ``things-eeg-rsa-correlation`` runs on generated data (``eeg_board`` in conftest) and from the real
Kriegeskorte 2008 human-IT RDMs; the figures are checked through their matplotlib artists and by reading the PNGs
back, against values computed here independently (numpy, scipy.io on the original .mat files).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from PIL import Image
from scipy.spatial.distance import squareform

from benchmarks import load_benchmark
from realnet_plugin.cli import main
from realnet_plugin.plots import (
    CEILING_LABEL,
    draw_improvement,
    draw_rdms,
    draw_roi_layers,
    draw_time_course,
    save_figure,
    series_styles,
)
from realnet_plugin.rdm_views import rdm_view

PLANTED, OTHER, EEG_BENCHMARK, PEAK = "test_fig_planted", "test_fig_other", "things-eeg-rsa-correlation", 0.15


def _bars(figure, prefix="cluster:") -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list[tuple[float, float]]] = {}
    for axis in figure.axes:
        for collection in axis.collections:
            gid = collection.get_gid() or ""
            if isinstance(collection, LineCollection) and gid.startswith(prefix):
                for segment in collection.get_segments():
                    found.setdefault(gid[len(prefix):], []).append((segment[0][0], segment[-1][0]))
    return found


def _texts(figure) -> list[str]:
    return [t.get_text() for axis in figure.axes for t in axis.texts if t.get_gid() == "cluster-note"]


def test_time_course_draws_every_significant_cluster_in_its_layer_colour(eeg_board, tmp_path):
    assert (eeg_board.planted, eeg_board.other, eeg_board.benchmark, eeg_board.peak) == (
        PLANTED, OTHER, EEG_BENCHMARK, PEAK)
    attrs = eeg_board.attrs(PLANTED)
    significant = {layer: [(c["start"] * 1000, c["end"] * 1000) for c in found if c["p"] < 0.05]
                   for layer, found in attrs["clusters"].items()}
    significant = {layer: spans for layer, spans in significant.items() if spans}
    assert significant, "the planted model should have significant clusters (data generated with a clear peak)"
    assert any(start <= PEAK * 1000 <= end for spans in significant.values() for start, end in spans)

    figure = draw_time_course(attrs)
    axis = figure.axes[0]
    bars = _bars(figure)
    assert set(bars) == set(significant)
    for layer, spans in significant.items():  # each bar spans its cluster's time points +- half a 10 ms sample
        drawn = np.array(sorted(bars[layer]))
        assert drawn == pytest.approx(np.array(sorted((s - 5, e + 5) for s, e in spans)))
    lines = {line.get_label(): line for line in axis.lines if line.get_label() in significant}
    for layer in significant:
        bar = next(c for c in axis.collections if c.get_gid() == f"cluster:{layer}")
        assert to_rgb(bar.get_colors()[0]) == pytest.approx(to_rgb(lines[layer].get_color()))
    layer_lines = [line for line in axis.lines if line.get_label() in {"1", "3", "7"}]
    assert len({(line.get_linestyle(), line.get_marker()) for line in layer_lines}) == 3  # black-and-white safe
    band = [c for c in axis.collections if c.get_gid() == "noise-ceiling"]
    assert len(band) == 1 and band[0].get_label() == CEILING_LABEL == "noise ceiling (lower\u2013upper bound)"
    title = axis.get_title()
    for part in (PLANTED, EEG_BENCHMARK, "6 subjects (1, 2, 3, 4, 5, 6)", "correlation", "spearman"):
        assert part in title
    assert _texts(figure) == []
    # the subject means drawn are the stored similarity's means
    similarity = np.asarray(attrs["similarity"]["values"])  # (subject, layer, time)
    line_7 = next(line for line in layer_lines if line.get_label() == "7")
    assert line_7.get_ydata() == pytest.approx(similarity[:, 2].mean(axis=0))

    # read the PNG back: the bar's middle pixel has the layer's colour
    figure.set_dpi(150)
    figure.canvas.draw()
    layer, (start, end) = next(iter(significant.items()))[0], next(iter(significant.values()))[0]
    bar = next(c for c in axis.collections if c.get_gid() == f"cluster:{layer}")
    y = bar.get_segments()[0][0][1]
    x_pixel, y_pixel = axis.transData.transform(((start + end) / 2, y))
    height = figure.canvas.get_width_height()[1]
    path = save_figure(figure, tmp_path / "timecourse.png")
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=float) / 255
    assert pixels.shape[0] == height
    patch = pixels[int(round(height - y_pixel)) - 1:int(round(height - y_pixel)) + 2,
                   int(round(x_pixel)) - 1:int(round(x_pixel)) + 2].reshape(-1, 3)
    expected = np.asarray(to_rgb(lines[layer].get_color()))
    assert np.abs(patch - expected).max(axis=1).min() < 0.03, (patch, expected)


def test_time_course_notes_why_there_are_no_clusters(eeg_board, tmp_path):
    one = eeg_board.attrs(PLANTED, "one")  # scored against subject 1 only: no cluster test
    assert one["clusters"] == {} and one["subjects"] == [1]
    figure = draw_time_course(one)
    assert _bars(figure) == {}
    assert _texts(figure) == ["no cluster test: 1 subject scored (the test needs 2 or more)"]
    assert "1 subject (1)" in figure.axes[0].get_title()
    save_figure(figure, tmp_path / "one.pdf")
    assert (tmp_path / "one.pdf").read_bytes()[:4] == b"%PDF"
    no_test = {**eeg_board.attrs(PLANTED), "clusters": {}}
    assert "n_permutations = 0" in _texts(draw_time_course(no_test))[0]
    weak = {**eeg_board.attrs(PLANTED)}
    weak["clusters"] = {k: [{**c, "p": 0.5} for c in v] for k, v in weak["clusters"].items()}
    assert _texts(draw_time_course(weak)) == ["no significant cluster (cluster permutation test, p < 0.05)"]


def test_improvement_figure_difference_and_paired_clusters(eeg_board):
    a, b = eeg_board.attrs(PLANTED), eeg_board.attrs(OTHER)
    figure = draw_improvement(a, b, layer="7", n_permutations=200)
    top, bottom = figure.axes[:2]
    similarity_a = np.asarray(a["similarity"]["values"])[:, 2]
    similarity_b = np.asarray(b["similarity"]["values"])[:, 2]
    difference = next(line for line in bottom.lines if line.get_label() == f"{PLANTED} - {OTHER}")
    assert difference.get_ydata() == pytest.approx((similarity_a - similarity_b).mean(axis=0))
    assert (_bars(figure) != {}) != (len(_texts(figure)) == 1)  # either cluster bars or a note saying none
    title = figure.get_suptitle()
    assert "shared 6 subjects" in title and "layer 7" in title and f"{PLANTED} (A) vs {OTHER} (B)" in title
    # shared subjects only: A scored on 6 subjects, B on subject 1 -> no paired test, a note says why
    single = draw_improvement(a, eeg_board.attrs(OTHER, "one"), layer="7")
    assert _bars(single) == {}
    assert _texts(single) == ["no paired cluster test: 1 subject shared by the two results (the test needs 2 or more)"]
    with pytest.raises(ValueError, match="layer 'V9' is not among"):
        draw_improvement(a, b, layer="V9")
    holes = json.loads(json.dumps(a))  # a time point left out (undefined EEG RDM): no test, and a note says why
    holes["similarity"]["values"][0][2][30] = float("nan")
    assert "undefined at some time points" in _texts(draw_improvement(holes, b, layer="7"))[0]


def test_rdm_heatmaps_group_images_by_category():
    rng = np.random.default_rng(3)
    categories = list("cabacbca")
    square = squareform(rng.random(28))
    figure = draw_rdms([("model", squareform(square), "1 - r"), ("brain", square, "1 - r")], title="t",
                       categories=categories)
    order = np.argsort([list(dict.fromkeys(categories)).index(c) for c in categories], kind="stable")
    assert [categories[i] for i in order] == list("cccaaabb")
    images = [image for axis in figure.axes for image in axis.images]
    assert [image.get_gid() for image in images] == ["rdm:model", "rdm:brain"]
    for image in images:
        assert np.asarray(image.get_array()) == pytest.approx(square[np.ix_(order, order)])
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["c", "a", "b"]
    with pytest.raises(ValueError, match="covers 5 images, the first panel 8"):
        draw_rdms([("a", square, ""), ("b", np.zeros((5, 5)), "")], title="t")


def test_rdm_view_of_real_human_it_rdms_and_category_blocks(eeg_board, tmp_path, kriegeskorte2008_dir):
    view = rdm_view(PLANTED, "kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir))
    brain = scipy.io.loadmat(kriegeskorte2008_dir / "92_brainRDMs.mat")["RDMs"]
    expected = np.mean([brain[0, s, k]["RDM"] for s in range(4) for k in range(2)], axis=0)
    names = [name for name, _, _ in view.panels]
    assert names[0] == f"model RDM: {view.layer}" and names[1:] == ["hIT RDM, subject mean"]
    assert squareform(view.panels[1][1]) == pytest.approx(expected, abs=1e-6)
    supplement = scipy.io.loadmat(kriegeskorte2008_dir / "Kriegeskorte_Neuron2008_supplementalData.mat")
    supplement = supplement["stimuli_92objs"]
    raw = [str(supplement[0, i]["category"][0]) for i in range(92)]
    assert len(set(view.categories)) == len(set(raw)) == 6
    assert all((raw[i] == raw[j]) == (view.categories[i] == view.categories[j]) for i in range(92) for j in range(92))
    path = tmp_path / "k92.png"
    figure = draw_rdms(view.panels, title=view.title, categories=view.categories)
    assert len([i for axis in figure.axes for i in axis.images]) == 2
    assert len(figure.axes[0].get_xticklabels()) == 6
    save_figure(figure, path)
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 20  # heatmaps, not a blank canvas


def test_rdm_view_eeg_default_is_the_peak_and_matches_numpy(eeg_board):
    from benchmarks.datasets.things_eeg2.data import load_subject

    view = rdm_view(PLANTED, EEG_BENCHMARK, root=str(eeg_board.root))
    attrs = eeg_board.attrs(PLANTED)  # the same model, benchmark and subjects, scored through the leaderboard
    similarity = np.asarray(attrs["similarity"]["values"])
    layers, times = attrs["similarity"]["coords"]["layer"], np.asarray(attrs["similarity"]["coords"]["time"])
    assert view.layer == attrs["best_layer"]
    window = (times >= 0) & (times <= 0.5 + 1e-9)
    mean = similarity[:, layers.index(view.layer)].mean(axis=0)
    assert view.time == pytest.approx(times[np.argmax(np.where(window, mean, -np.inf))])
    index = int(np.argmin(np.abs(times - view.time)))
    rdms = []
    for subject in range(1, 7):  # 1 - Pearson over channels of the repetition-averaged patterns
        patterns = load_subject(subject, "test", eeg_board.root).data.mean(axis=1)[:, :, index]  # (images, chans)
        rdms.append(squareform(1 - np.corrcoef(patterns), checks=False))
    assert view.panels[1][1] == pytest.approx(np.mean(rdms, axis=0), abs=1e-9)
    assert view.categories is None  # one image per THINGS concept: nothing to group
    assert f"{view.time * 1000:.0f} ms (peak)" in view.title and "6 subjects" in view.title


def test_roi_chart_legend_outside_and_distinct_styles_for_25_layers(tmp_path, kriegeskorte2008_dir):
    benchmark = load_benchmark("kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir), n_bootstrap=0)
    models = np.random.default_rng(0).random((25, 92 * 91 // 2))
    result = benchmark.score_rdms(models, [f"layer{i:02d}" for i in range(25)])
    result.attrs["model_identifier"] = "random_rdms"
    figure = draw_roi_layers(result)
    axis = figure.axes[0]
    figure.canvas.draw()
    legend = axis.get_legend()
    assert legend.get_window_extent().x0 >= axis.get_window_extent().x1  # outside, right of the bars
    faces = {tuple(np.round(patch.get_facecolor(), 4)) for patch in axis.patches}
    assert len(faces) == 25  # one distinct colour per layer
    styles = series_styles(25)
    assert len({s["color"] for s in styles}) == 25 and len({(s["hatch"], s["color"]) for s in styles}) == 25
    assert all(styles[i]["hatch"] != styles[i + 1]["hatch"] for i in range(24))
    for part in ("random_rdms", "kriegeskorte2008", "4 subjects", "spearman"):
        assert part in axis.get_title()
    save_figure(figure, tmp_path / "roi.png")
    assert Image.open(tmp_path / "roi.png").width > 1000


def test_plot_command_draws_rdms_and_time_courses(eeg_board, tmp_path, capsys):
    out = tmp_path / "rdm.png"
    assert main(["plot", "--kind", "rdm", "--model", PLANTED, "--benchmark", EEG_BENCHMARK, "--option",
                 f"root={eeg_board.root}", "--time-ms", "150", "--subject", "2", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=float)
    assert pixels.std() > 20 and out.read_bytes()[:4] == b"\x89PNG"
    score = tmp_path / "one.json"
    score.write_text(json.dumps(eeg_board.attrs(PLANTED, "one")))
    assert main(["plot", str(score), "--out", str(tmp_path / "one.png")]) == 0
    assert main(["plot", str(score), "--kind", "rdm", "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--kind rdm takes no score file" in err
    assert main(["plot", "--kind", "rdm", "--model", PLANTED, "--benchmark", EEG_BENCHMARK, "--option",
                 f"root={eeg_board.root}", "--time-ms", "5000", "--out", str(tmp_path / "y.png")]) == 1
    assert "outside the EEG epoch" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
