"""The EEG RDMs are ranked once per benchmark object and reused for every model it scores; the numbers are scipy's."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.rsa.compare import RankedRDMs

module = importlib.import_module("benchmarks.things_eeg_rsa.benchmark")
compare_module = importlib.import_module("benchmarks.rsa.compare")


@pytest.fixture(scope="module")
def eeg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranked") / "things-eeg2"
    return generate_things_eeg2(root, n_subjects=3, n_test_images=12, n_test_repetitions=6, n_train_concepts=2,
                                n_train_per_concept=2, n_train_repetitions=2, image_size=16, seed=5, progress=False)


def count_calls(monkeypatch, owner, name: str) -> list:
    calls, original = [], getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(np.shape(args[0]) if args else ())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_many_models_one_ranking_and_scipys_numbers(eeg_root, monkeypatch):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0, n_bootstrap=20,
                               ceiling=False)
    _, rdms, _ = benchmark.eeg()
    rankings = count_calls(monkeypatch, module, "RankedRDMs")
    ceilings = count_calls(monkeypatch, module, "noise_ceiling")
    sorts = count_calls(monkeypatch, compare_module, "tie_marked_orders")
    rng = np.random.default_rng(0)
    fresh = []
    for identifier in ("cornet_s", "realnet_like", "resnet"):  # the leaderboard: many models, one benchmark
        models = np.round(rng.random((2, rdms.shape[-1])) * 6)  # ties in the model RDMs too
        score = benchmark.score_rdms(models, ["a", "b"], identifier)
        similarity = score.attrs["similarity"]
        for s_index, subject in enumerate(similarity["subject"].values):
            for layer_index in range(2):
                expected = [spearmanr(models[layer_index], rdms[subject - 1, t]).statistic
                            for t in range(rdms.shape[1])]
                np.testing.assert_allclose(similarity.values[s_index, layer_index], expected, rtol=0, atol=1e-12)
        fresh.append((score, models, identifier))
    eeg_rankings = [shape for shape in rankings if shape == rdms.shape]
    assert (len(eeg_rankings), len(ceilings), len(sorts)) == (1, 1, 1)  # once for the three models
    assert len(rankings) == 4  # and each model's RDMs once, whatever the number of subjects
    _ = benchmark.ceiling
    assert len(ceilings) == 1
    # a fresh object (nothing kept) gives the same scores, intervals and ceilings
    for score, models, identifier in fresh:
        again = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0, n_bootstrap=20,
                               ceiling=False).score_rdms(models, ["a", "b"], identifier)
        assert float(again) == float(score)
        for key in ("similarity", "ceiling_lower", "similarity_ci_low", "similarity_ci_high"):
            np.testing.assert_array_equal(again.attrs[key].values, score.attrs[key].values)


def test_a_changed_comparison_is_ranked_again(eeg_root):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0, ceiling=False)
    _, rdms, _ = benchmark.eeg()
    models = np.random.default_rng(1).random((1, rdms.shape[-1]))
    benchmark.score_rdms(models, ["a"], "m")
    first = benchmark._prepared_eeg()[0]
    assert isinstance(first, RankedRDMs) and first.method == "spearman"
    benchmark.comparison = "pearson"
    similarity = benchmark.score_rdms(models, ["a"], "m").attrs["similarity"].values
    assert benchmark._prepared_eeg()[0].method == "pearson"
    expected = [[pearsonr(models[0], rdms[s, t]).statistic for t in range(rdms.shape[1])] for s in range(3)]
    np.testing.assert_allclose(similarity[:, 0], expected, rtol=0, atol=1e-12)
