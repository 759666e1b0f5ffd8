"""``realnet_plugin.improvement`` and ``realnet compare``: the paper's improvement, ratio, paired clusters, CIs."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import xarray as xr
from brainscore_core.metrics import Score
from mne.stats import permutation_cluster_1samp_test
from scipy import stats

from realnet_plugin import improvement

TIMES = np.round(np.arange(-0.2, 0.8, 0.01), 2)  # the release's 100 points
WINDOW = (-0.1, 0.49)


def _result(values: np.ndarray, name: str, subjects=(1, 2, 3, 4, 5, 6), **attrs) -> Score:
    result = Score(0.0)
    result.attrs["similarity"] = xr.DataArray(values, dims=("subject", "layer", "time"),
                                              coords={"subject": list(subjects), "layer": ["V4", "IT"],
                                                      "time": TIMES})
    result.attrs.update({"model_identifier": name, "cluster_window": list(WINDOW), "min_cluster_length": 1,
                         "best_layer": "IT", **attrs})
    return result


@pytest.fixture
def fixed():
    rng = np.random.default_rng(12)
    b = rng.normal(0.1, 0.05, (6, 2, 100))
    a = b + rng.normal(0.0, 0.02, (6, 2, 100))
    a[:, 1, 40:55] += 0.06  # A better than B on IT, 0.20 .. 0.34 s
    a[:, 1, 90:98] += 0.06  # and outside the window: must not become a cluster
    return a, b


def test_improvement_and_ratio_equal_a_hand_computation_and_clusters_equal_mne(fixed):
    a, b = fixed
    found = improvement(_result(a, "A"), _result(b, "B"), n_permutations=500, n_bootstrap=300, seed=3)
    assert found.subjects == [1, 2, 3, 4, 5, 6]
    for i, layer in enumerate(("V4", "IT")):
        hand = np.array([sum(a[s, i, t] - b[s, i, t] for s in range(6)) / 6 for t in range(100)])
        np.testing.assert_allclose(found.improvement.sel(layer=layer).values, hand, atol=1e-12)
        mean_b = b[:, i].sum(axis=0) / 6
        np.testing.assert_allclose(found.ratio.sel(layer=layer).values, hand / mean_b, atol=1e-12)
        inside = (TIMES >= WINDOW[0] - 1e-9) & (TIMES <= WINDOW[1] + 1e-9)
        _, clusters, p_values, _ = permutation_cluster_1samp_test(
            a[:, i, inside] - b[:, i, inside], threshold=stats.t.ppf(1 - 0.025, 5), tail=0, n_permutations=500,
            seed=3, out_type="indices", verbose=False)
        expected = [(TIMES[inside][c[0][0]], TIMES[inside][c[0][-1]], p) for c, p in zip(clusters, p_values)]
        got = [(c["start"], c["end"], c["p"]) for c in found.clusters[layer]]
        assert len(got) == len(expected)
        if expected:
            np.testing.assert_allclose(np.array(got), np.array(expected), atol=1e-9)
    significant = [c for c in found.clusters["IT"] if c["p"] < 0.05]
    assert any(c["start"] <= 0.25 <= c["end"] for c in significant)
    assert all(c["end"] <= 0.49 + 1e-9 for c in found.clusters["IT"])  # 0.7 s effect is outside the window
    assert bool(found.significant().sel(layer="IT", time=0.3)) and not bool(found.significant().sel(layer="IT",
                                                                                                     time=0.75))


def test_bootstrap_intervals_resample_subjects_in_pairs(fixed):
    a, b = fixed
    found = improvement(_result(a, "A"), _result(b, "B"), n_permutations=0, n_bootstrap=400, seed=5,
                        confidence=0.9)
    rng = np.random.default_rng(5)  # a second, explicit loop over the resamples
    draws = rng.integers(0, 6, (400, 6))
    samples = np.array([(a[d] - b[d]).mean(axis=0) for d in draws])
    np.testing.assert_allclose(found.ci_low.values, np.percentile(samples, 5, axis=0), atol=1e-12)
    np.testing.assert_allclose(found.ci_high.values, np.percentile(samples, 95, axis=0), atol=1e-12)
    ratios = np.array([(a[d].mean(axis=0) - b[d].mean(axis=0)) / b[d].mean(axis=0) for d in draws])
    np.testing.assert_allclose(found.ratio_ci_high.values, np.percentile(ratios, 95, axis=0), atol=1e-12)
    assert (found.ci_low.values <= found.improvement.values + 1e-12).all()
    offset = improvement(_result(b + 0.01, "A"), _result(b, "B"), n_permutations=0, n_bootstrap=50)
    np.testing.assert_allclose(offset.ci_low.values, 0.01, atol=1e-12)  # the same difference in every subject
    np.testing.assert_allclose(offset.ci_high.values, 0.01, atol=1e-12)


def test_shared_subjects_only_and_one_line_refusals(fixed):
    a, b = fixed
    found = improvement(_result(a, "A"), _result(b[2:], "B", subjects=(3, 4, 5, 6)), n_permutations=0,
                        n_bootstrap=0)
    assert found.subjects == [3, 4, 5, 6] and found.ci_low is None
    np.testing.assert_allclose(found.improvement.values, (a[2:] - b[2:]).mean(axis=0), atol=1e-12)
    with pytest.raises(ValueError, match=r"share 1 subject\(s\) \(\[1\]\)"):
        improvement(_result(a[:1], "A", subjects=(1,)), _result(b, "B"))
    with pytest.raises(ValueError, match="pass benchmark="):
        improvement("realnet_s*_b100", "cornet_s")


def test_realnet_compare_writes_json_and_figure_for_two_families(tmp_path, tmp_path_factory):
    from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
    from model_registry.preprocessing import Preprocessing
    from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, save_trained
    from model_registry.storage.paths import models_dir
    from realnet_plugin.cli import main

    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=3, n_test_images=10, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=4, n_train_repetitions=2, image_size=32,
                                progress=False)
    config = ReAlnetConfig(image_size=32)
    for beta in (100.0, 0.0):
        for subject in (1, 2, 3):
            torch.manual_seed(subject + int(beta))
            save_trained(ReAlnet(config), TrainedRun(subject=subject, beta=beta, config=config,
                                                     preprocessing=Preprocessing(32)), root=models_dir())
    out, report = tmp_path / "fig.png", tmp_path / "compare.json"
    with pytest.warns(UserWarning, match="leaves out"):
        status = main(["compare", "realnet_s*_b100", "realnet_s*_b0", "--benchmark", "things-eeg-rsa-correlation",
                       "--option", f"root={root}", "--option", "ceiling=false", "--option", "layers=[\"IT\"]",
                       "--option", "window=[-0.1,0.49]", "--option", "n_permutations=16",
                       "--n-permutations", "16", "--n-bootstrap", "20", "--out", str(out), "--json", str(report)])
    assert status == 0 and out.stat().st_size > 0
    data = json.loads(report.read_text())
    assert data["subjects"] == [1, 2, 3] and data["layers"] == ["IT"]
    assert data["cluster_window"] == pytest.approx([-0.1, 0.49])
    mean_a, mean_b = np.array(data["mean_a"], dtype=float), np.array(data["mean_b"], dtype=float)
    np.testing.assert_allclose(np.array(data["improvement"], dtype=float), mean_a - mean_b, atol=1e-12)
    shutil.rmtree(models_dir())
