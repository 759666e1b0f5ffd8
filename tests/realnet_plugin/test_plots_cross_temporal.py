"""The cross-temporal figure: one heatmap per block with the subject-mean matrix, clusters outlined, a full title;
and the ``realnet cross-temporal`` command end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import LineCollection
from matplotlib.image import AxesImage
from PIL import Image

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.rsa.cross_temporal import cross_temporal_cluster_test
from benchmarks.things_eeg_rsa.cross_temporal import CrossTemporalRSA
from realnet_plugin.cli import main
from realnet_plugin.plots_cross_temporal import draw_cross_temporal, outline_segments, plot_cross_temporal

LAYERS = ["V2.output-t0", "V2.output-t1", "V4.output-t0", "V4.output-t1", "V4.output-t2", "V4.output-t3"]
TIMES = np.round(np.arange(-0.1, 0.3, 0.01), 3)  # 40 time points


def planted_result(n_subjects: int = 8, n_permutations: int = 200) -> CrossTemporalRSA:
    """Similarities with an effect in V4's steps only, later for later steps; clusters from the real test."""
    rng = np.random.default_rng(4)
    x = rng.normal(scale=0.05, size=(n_subjects, len(LAYERS), len(TIMES)))
    for k in range(4):
        x[:, 2 + k, 15 + 4 * k:21 + 4 * k] += 0.2
    clusters = cross_temporal_cluster_test(x, n_permutations=n_permutations, seed=0)
    similarity = xr.DataArray(x, dims=("subject", "layer", "time"), coords={
        "subject": list(range(1, n_subjects + 1)), "layer": LAYERS,
        "block": ("layer", [name.split("-")[0] for name in LAYERS]),
        "step": ("layer", [int(name[-1]) for name in LAYERS]), "time": TIMES})
    return CrossTemporalRSA(similarity, clusters, "cornet_s", "things-eeg-rsa-correlation", "correlation",
                            "spearman", list(range(1, n_subjects + 1)), "matrix", n_permutations, (0.0, 0.25))


def test_outline_of_a_hand_mask():
    mask = np.zeros((3, 5), dtype=bool)
    mask[1:3, 1:4] = True  # a 2 x 3 block of cells: a perimeter of 2 * (2 + 3) unit edges
    edges = np.arange(6) * 10.0  # columns span [0, 10], [10, 20], ...
    segments = outline_segments(mask, edges)
    assert len(segments) == 10
    assert {tuple(map(tuple, s)) for s in segments} == {
        ((10.0, 0.5), (20.0, 0.5)), ((20.0, 0.5), (30.0, 0.5)), ((30.0, 0.5), (40.0, 0.5)),  # top
        ((10.0, 2.5), (20.0, 2.5)), ((20.0, 2.5), (30.0, 2.5)), ((30.0, 2.5), (40.0, 2.5)),  # bottom (border)
        ((10.0, 0.5), (10.0, 1.5)), ((10.0, 1.5), (10.0, 2.5)),  # left
        ((40.0, 0.5), (40.0, 1.5)), ((40.0, 1.5), (40.0, 2.5))}  # right
    assert outline_segments(np.zeros((2, 2), dtype=bool), np.arange(3.0)) == []


def test_heatmaps_per_block_with_clusters_outlined_and_a_full_title(tmp_path):
    result = planted_result()
    mean = result.similarity.values.mean(axis=0)
    mask = result.clusters.significant_mask(0.05)
    assert mask[2:].any(axis=1).all() and not mask[:2].any()  # V4 steps significant, V2 not
    for drawn in (result, json.loads(json.dumps(result.to_dict()))):  # the object and its JSON summary
        figure = draw_cross_temporal(drawn)
        images = {a.get_gid(): a for axis in figure.axes for a in axis.get_children() if isinstance(a, AxesImage)}
        assert set(images) == {"heatmap:V2.output", "heatmap:V4.output"}
        np.testing.assert_allclose(images["heatmap:V2.output"].get_array(), mean[:2], atol=1e-12)
        np.testing.assert_allclose(images["heatmap:V4.output"].get_array(), mean[2:], atol=1e-12)
        low, high = images["heatmap:V4.output"].get_clim()
        assert high == pytest.approx(np.abs(mean).max()) and low == -high  # one scale centred on 0
        extent = images["heatmap:V4.output"].get_extent()
        assert extent[0] == pytest.approx(-105.0) and extent[1] == pytest.approx(295.0)  # ms, cells centred
        outlines = {a.get_gid(): a for axis in figure.axes for a in axis.collections
                    if isinstance(a, LineCollection) and a.get_gid()}
        assert set(outlines) == {"cluster:V4.output"}
        segments = outlines["cluster:V4.output"].get_segments()
        # the outline is the boundary of each significant cluster: an edge wherever two neighbouring cells (or a
        # cell and the border) belong to different clusters; clusters of neighbouring steps stay apart
        labels = np.zeros((6, 40), dtype=int)
        for number, ((step, times), p) in enumerate(zip(result.clusters.clusters, result.clusters.cluster_p_values), 1):
            labels[step, times] = number if p < 0.05 else 0
        padded = np.pad(labels[2:], 1)
        expected = set()
        for row in range(padded.shape[0] - 1):
            for col in range(1, padded.shape[1] - 1):
                if padded[row, col] != padded[row + 1, col]:
                    x0 = -105.0 + 10 * (col - 1)
                    expected.add(((x0, row - 0.5), (x0 + 10, row - 0.5)))
        for row in range(1, padded.shape[0] - 1):
            for col in range(padded.shape[1] - 1):
                if padded[row, col] != padded[row, col + 1]:
                    x = -105.0 + 10 * col
                    expected.add(((x, row - 1.5), (x, row - 0.5)))
        drawn = {tuple((round(float(x), 6), round(float(y), 6)) for x, y in segment) for segment in segments}
        assert drawn == {tuple((round(x, 6), round(y, 6)) for x, y in segment) for segment in expected}
        touching = [(r, c) for r in range(3) for c in range(40) if labels[2 + r, c] and labels[3 + r, c]]
        assert touching  # the planted clusters of neighbouring steps overlap in time, yet are outlined apart
        peaks = {line.get_gid(): line for axis in figure.axes for line in axis.lines if line.get_gid()}
        window = (TIMES >= 0) & (TIMES <= 0.25)
        expected = [TIMES[window][np.argmax(mean[k, window])] * 1000 for k in range(2, 6)]
        np.testing.assert_allclose(peaks["peak:V4.output"].get_xdata(), expected)
        title = figure._suptitle.get_text()
        for part in ("cornet_s", "things-eeg-rsa-correlation", "8 subjects (1, 2, 3", "correlation",
                     "spearman r", "p < 0.05", "matrix-wise", "200"):
            assert part in title, (part, title)
        import matplotlib.pyplot as plt

        plt.close(figure)
    path = plot_cross_temporal(result, tmp_path / "ct.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 600
    with pytest.raises(ValueError, match=r"\.png or \.pdf"):
        plot_cross_temporal(result, tmp_path / "ct.svg")
    assert not (tmp_path / "ct.svg").exists()


def test_one_subject_figure_says_why_there_are_no_clusters():
    full = planted_result()
    one = CrossTemporalRSA(full.similarity.isel(subject=[0]), None, "realnet_s01_b100", "things-eeg-rsa",
                           "decoding-svm", "spearman", [1], "matrix", 0, (0.0, 0.25),
                           "no cluster test: 1 subject scored")
    figure = draw_cross_temporal(one)
    notes = [t.get_text() for axis in figure.axes for t in axis.texts if t.get_gid() == "cluster-note"]
    assert notes == ["no cluster test: 1 subject scored"]
    assert not [c for axis in figure.axes for c in axis.collections if str(c.get_gid()).startswith("cluster:")]
    assert "1 subject (1)" in figure._suptitle.get_text()


def test_cross_temporal_command(tmp_path, capsys):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=2, n_test_images=6, n_test_repetitions=3,
                                n_train_concepts=2, n_train_per_concept=2, n_train_repetitions=2, image_size=16,
                                progress=False)
    out, summary = tmp_path / "figs" / "ct.png", tmp_path / "ct.json"
    args = ["cross-temporal", "cornet_s", "things-eeg-rsa-correlation", "--random-weights", "--out", str(out),
            "--json", str(summary), "--layers", "V4.output", "--option", f"root={root}",
            "--option", "n_permutations=8"]
    assert main(["cross-temporal", "cornet_s", "things-eeg-rsa-correlation", "--out", str(tmp_path / "x.txt"),
                 "--option", f"root={root}"]) == 1
    assert "x.txt" in capsys.readouterr().err
    assert main(args) == 0
    printed = capsys.readouterr().out
    for name in ("V4.output-t0", "V4.output-t3", "wrote"):
        assert name in printed
    data = json.loads(summary.read_text())
    assert data["layers"] == [f"V4.output-t{k}" for k in range(4)] and data["subjects"] == [1, 2]
    assert np.asarray(data["mean"], dtype=float).shape == (4, 100)
    with Image.open(out) as image:
        assert image.format == "PNG"
