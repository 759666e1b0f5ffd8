"""Cluster permutation tests against MNE; bootstrap resampling against explicitly rebuilt RDM vectors."""
from __future__ import annotations

import numpy as np
import pytest
from mne.stats import permutation_cluster_1samp_test
from scipy.stats import pearsonr, spearmanr

from benchmarks.rsa import _native, bootstrap_similarity, cluster_permutation_test, compare, paired_cluster_test, stats
from benchmarks.rsa.stats import _pair_weights, _weighted_pearson, _weighted_spearman, resampled_similarity

TAILS = {"greater": 1, "two-sided": 0, "less": -1}


def time_courses(n_subjects: int, seed: int, size: float = 0.9) -> np.ndarray:
    """Noise with a positive (time 20-34) and a negative (45-54) effect, 60 time points."""
    effect = np.r_[np.zeros(20), size * np.ones(15), np.zeros(10), -size * np.ones(10), np.zeros(5)]
    return np.random.default_rng(seed).normal(size=(n_subjects, 60)) + effect


@pytest.mark.parametrize(
    "n_subjects, n_permutations, tail",
    [
        (8, 1000, "greater"),  # 2^8 - 1 < 1000: MNE enumerates every sign pattern
        (9, 1000, "less"),
        (8, 1000, "two-sided"),
        (12, 500, "two-sided"),  # random sign flips: the same stream for the same seed
        (12, 300, "greater"),
        (24, 100, "two-sided"),  # MNE's draw for more than 20 subjects
    ],
)
def test_cluster_test_is_identical_to_mne(n_subjects, n_permutations, tail):
    x = time_courses(n_subjects, seed=n_subjects)
    t_obs, clusters, p_values, null = permutation_cluster_1samp_test(
        x, n_permutations=n_permutations, tail=TAILS[tail], seed=3, out_type="indices", verbose=False
    )
    ours = cluster_permutation_test(x, tail=tail, n_permutations=n_permutations, seed=3)
    np.testing.assert_allclose(ours.t_values, t_obs, rtol=1e-12)
    assert [c.tolist() for c in ours.clusters] == [c[0].tolist() for c in clusters]
    np.testing.assert_allclose(ours.cluster_masses, [t_obs[c].sum() for c in clusters], rtol=1e-12)
    np.testing.assert_array_equal(ours.cluster_p_values, p_values)
    np.testing.assert_allclose(np.sort(ours.null_distribution), np.sort(null), rtol=1e-10, atol=1e-10)
    assert ours.exact == (n_permutations > 2 ** (n_subjects - (tail == "two-sided")) - 1)
    assert len(ours.clusters) >= 1


def test_significant_mask_and_paired_test():
    a = time_courses(10, seed=1, size=3.0)
    b = np.random.default_rng(2).normal(size=(10, 60)) * 0.1
    paired = paired_cluster_test(a, b, n_permutations=200, seed=0)
    single = cluster_permutation_test(a - b, tail="two-sided", n_permutations=200, seed=0)
    np.testing.assert_array_equal(paired.cluster_p_values, single.cluster_p_values)
    mask = paired.significant_mask(0.05)
    assert mask[20:35].all() and mask[45:55].all() and not mask[:18].any() and not mask[36:44].any()
    assert paired.tail == "two-sided"


def test_no_cluster_gives_empty_results():
    flat = np.random.default_rng(0).normal(size=(10, 20)) * 0.01 + np.linspace(-1, 1, 10)[:, None]
    result = cluster_permutation_test(flat, n_permutations=50)
    assert result.clusters == [] and result.cluster_p_values.size == 0 and not result.significant_mask().any()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: cluster_permutation_test(x, tail="left"), "unknown tail 'left'; expected one of 'greater'"),
        (lambda x: cluster_permutation_test(x[:1]), "x has 1 subject"),
        (lambda x: cluster_permutation_test(x[0]), r"x must be 2-D \(n_subjects, n_times\)"),
        (lambda x: cluster_permutation_test(x, p_threshold=1.5), "p_threshold must be a number strictly between"),
        (lambda x: cluster_permutation_test(x, n_permutations=1), "n_permutations must be an integer >= 2"),
        (lambda x: cluster_permutation_test(np.where(x > 2, np.nan, x)), "x contains .* non-finite"),
        (lambda x: cluster_permutation_test(np.ones_like(x)), "identical across subjects at time index 0"),
        (lambda x: paired_cluster_test(x, x[:, :10]), r"a has shape \(8, 60\) but b has \(8, 10\)"),
        (lambda x: cluster_permutation_test(x, n_permutations=50, seed="a"), r"seed must be an integer in .* or None"),
        (lambda x: bootstrap_similarity(np.abs(x[:, None, :10]) + 0.1, np.arange(10.0)[None], seed=-2),
         r"seed must be an integer in \[0, 2\*\*32\), got -2"),
    ],
)
def test_cluster_test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(time_courses(8, seed=0))


@pytest.fixture
def bootstrap_data():
    rng = np.random.default_rng(4)
    n_images = 9
    eeg = np.round(rng.random((3, 5, 36)), 1)  # ties, like decoding accuracies
    models = rng.random((2, 36))
    return n_images, eeg, models


def explicit_resample(n_images: int, images: np.ndarray, rdm: np.ndarray) -> np.ndarray:
    """The RDM of a resampled image list, as a vector over its pairs of different images."""
    first, second = np.triu_indices(len(images), k=1)
    a, b = images[first], images[second]
    keep = a != b
    rows, cols = np.triu_indices(n_images, k=1)
    index = {(i, j): k for k, (i, j) in enumerate(zip(rows, cols))}
    return rdm[[index[(min(i, j), max(i, j))] for i, j in zip(a[keep], b[keep])]]


def test_weighted_correlations_equal_correlations_of_rebuilt_rdms(bootstrap_data):
    n_images, eeg, models = bootstrap_data
    flat = eeg.reshape(-1, 36)
    images = np.random.default_rng(5).integers(0, n_images, n_images)
    weights = _pair_weights(np.bincount(images, minlength=n_images), *np.triu_indices(n_images, 1))
    sets = np.zeros(len(flat), dtype=np.int64)
    expected_spearman = np.array(
        [[spearmanr(explicit_resample(n_images, images, e), explicit_resample(n_images, images, m))[0]
          for m in models] for e in flat]
    )
    expected_pearson = np.array(
        [[pearsonr(explicit_resample(n_images, images, e), explicit_resample(n_images, images, m))[0]
          for m in models] for e in flat]
    )
    orders, model_orders = _native.tie_marked_orders(flat), _native.tie_marked_orders(models)
    np.testing.assert_allclose(_weighted_spearman(orders, sets, model_orders, weights, 2, 1),
                               expected_spearman, atol=1e-12)
    np.testing.assert_allclose(resampled_similarity(flat, sets, models[None], weights, "spearman"),
                               expected_spearman, atol=1e-12)
    np.testing.assert_allclose(_weighted_pearson(flat, sets, models[None], weights), expected_pearson, atol=1e-12)


def test_bootstrap_estimate_samples_and_interval(bootstrap_data):
    n_images, eeg, models = bootstrap_data
    result = bootstrap_similarity(eeg, models, n_bootstrap=200, seed=1)
    assert result.samples.shape == (200, 2, 5) and result.lower.shape == (2, 5)
    expected = np.mean([compare(eeg[s], models) for s in range(3)], axis=0).T
    np.testing.assert_allclose(result.estimate, expected, atol=1e-12)
    assert np.all(result.lower <= result.upper)
    inside = (result.lower <= result.estimate) & (result.estimate <= result.upper)
    assert inside.mean() >= 0.8
    again = bootstrap_similarity(eeg, models, n_bootstrap=200, seed=1)
    np.testing.assert_array_equal(again.samples, result.samples)


def test_bootstrap_resampling_modes_and_model_sets(bootstrap_data, monkeypatch):
    n_images, eeg, models = bootstrap_data
    subjects_only = bootstrap_similarity(eeg, models, n_bootstrap=50, resample="subjects")
    per_subject = np.stack([compare(eeg[s], models).T for s in range(3)])  # (subjects, models, times)
    multisets = [(a, b, c) for a in range(3) for b in range(a, 3) for c in range(b, 3)]
    possible = np.array([per_subject[list(chosen)].mean(axis=0) for chosen in multisets])  # (10, models, times)
    distance = np.abs(subjects_only.samples[:, None] - possible[None]).max(axis=(2, 3)).min(axis=1)
    assert distance.max() < 1e-12  # every sample is the mean over some multiset of subjects
    images_only = bootstrap_similarity(eeg, models, n_bootstrap=50, resample="images")
    assert np.unique(np.round(images_only.samples[:, 0, 0], 10)).size > 10
    own_models = np.stack([models, models[::-1], models])
    per_set = bootstrap_similarity(eeg, own_models, n_bootstrap=20, method="pearson")
    expected = np.mean([compare(eeg[s], own_models[s], "pearson") for s in range(3)], axis=0).T
    np.testing.assert_allclose(per_set.estimate, expected, atol=1e-12)
    # the weighted-rank kernel gives the samples of the explicit resampling (the definition, a second path)
    with_kernel = bootstrap_similarity(eeg, models, n_bootstrap=20, seed=3)
    monkeypatch.setattr(
        stats, "_weighted_spearman",
        lambda orders, sets, model_orders, weights, n_models, n_threads: resampled_similarity(
            eeg.reshape(-1, eeg.shape[-1]), sets, models[None], weights, "spearman"),
    )
    explicit = bootstrap_similarity(eeg, models, n_bootstrap=20, seed=3)
    np.testing.assert_allclose(explicit.samples, with_kernel.samples, atol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e, m: bootstrap_similarity(e, m, resample="pairs"), "unknown resample 'pairs'"),
        (lambda e, m: bootstrap_similarity(e, m, method="kendall_tau_a"), "unknown method 'kendall_tau_a'"),
        (lambda e, m: bootstrap_similarity(e, m, n_bootstrap=0), "n_bootstrap must be an integer >= 1"),
        (lambda e, m: bootstrap_similarity(e, m, confidence=95), "confidence must be a number strictly between"),
        (lambda e, m: bootstrap_similarity(e[0], m), r"eeg_rdms must be 3-D \(n_subjects, n_times, n_pairs\)"),
        (lambda e, m: bootstrap_similarity(e, m[:, :28]), "model_rdms has 28 pairs per RDM but eeg_rdms has 36"),
        (lambda e, m: bootstrap_similarity(e, np.stack([m, m])), "model_rdms has 2 subject sets but eeg_rdms has 3"),
        (lambda e, m: bootstrap_similarity(e[..., :35], m[:, :35]), "35 entries per RDM"),
        (lambda e, m: bootstrap_similarity(e, m * np.nan), "model_rdms contains"),
    ],
)
def test_bootstrap_errors(bootstrap_data, call, message):
    _, eeg, models = bootstrap_data
    with pytest.raises(ValueError, match=message):
        call(eeg, models)
