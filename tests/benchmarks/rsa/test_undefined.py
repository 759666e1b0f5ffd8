"""Undefined RDMs (NaN, or constant under Spearman / Pearson) with ``undefined='nan'``: NaN where undefined, every
other value as a reference computes it (scipy); the default still raises."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from benchmarks.rsa import (
    bootstrap_similarity,
    cluster_permutation_test,
    compare,
    compare_models_over_time,
    compare_rowwise,
    noise_ceiling,
)


@pytest.fixture
def rdms() -> np.ndarray:
    """(4 subjects, 6 times, 45 pairs): shared structure plus subject noise."""
    rng = np.random.default_rng(4)
    shared = rng.random((6, 45))
    return shared[None] + 0.7 * rng.random((4, 6, 45))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


@pytest.mark.parametrize("method, reference", [
    ("spearman", spearman), ("pearson", lambda a, b: float(stats.pearsonr(a, b).statistic))])
def test_compare_gives_nan_for_undefined_rows_only(rdms, method, reference):
    eeg = rdms[0].copy()  # (6 times, 45)
    eeg[1, 7] = np.nan  # one missing entry: the whole RDM is undefined
    eeg[4] = 0.5  # constant
    model = rdms[1, :2]  # (2, 45)
    with pytest.raises(ValueError, match="non-finite"):
        compare(model, eeg, method)
    result = compare(model, eeg, method, undefined="nan")  # (2, 6)
    assert np.isnan(result[:, [1, 4]]).all()
    for i, t in itertools.product(range(2), (0, 2, 3, 5)):
        assert result[i, t] == pytest.approx(reference(model[i], eeg[t]), abs=1e-12)
    rowwise = compare_rowwise(eeg, np.repeat(model[:1], 6, axis=0), method, undefined="nan")
    np.testing.assert_allclose(rowwise, result[0], atol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="infinite"):
        compare(model, np.where(eeg == 0.5, np.inf, eeg), method, undefined="nan")


def test_noise_ceiling_is_nan_where_any_subject_is_undefined(rdms):
    broken = rdms.copy()
    broken[2, 3] = np.nan  # subject 2 at time 3
    broken[0, 5] = 1.0  # subject 0 constant at time 5
    lower, upper = noise_ceiling(broken, undefined="nan")
    assert np.isnan(lower[[3, 5]]).all() and np.isnan(upper[[3, 5]]).all()
    n = rdms.shape[0]
    for t in (0, 1, 2, 4):  # by hand: leave-one-out and all-subject mean RDMs, scipy Spearman
        expected_lower = np.mean([spearman(rdms[s, t], np.delete(rdms[:, t], s, axis=0).mean(axis=0))
                                  for s in range(n)])
        expected_upper = np.mean([spearman(rdms[s, t], rdms[:, t].mean(axis=0)) for s in range(n)])
        assert lower[t] == pytest.approx(expected_lower, abs=1e-12)
        assert upper[t] == pytest.approx(expected_upper, abs=1e-12)
    with pytest.raises(ValueError, match="non-finite"):
        noise_ceiling(broken)


def _hand_max_mass(t_values: np.ndarray, threshold: float) -> float:
    best, run = 0.0, 0.0
    for value in t_values:
        run = run + value if value > threshold else 0.0  # NaN > threshold is False: NaN ends a run
        best = max(best, run)
    return best


def test_cluster_test_skips_undefined_time_points_exactly():
    """5 subjects -> all 31 sign flips enumerated; t, clusters and p recomputed by hand with scipy."""
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, (5, 12)) + np.r_[np.zeros(3), np.full(6, 2.5), np.zeros(3)]
    x[2, 6] = np.nan  # splits the supra-threshold run 3..8 into 3..5 and 7..8
    x[:, 10] = 0.3  # identical across subjects: no t value
    with pytest.raises(ValueError):
        cluster_permutation_test(x)
    result = cluster_permutation_test(x, n_permutations=10_000, undefined="nan")
    assert result.exact
    defined = np.ones(12, dtype=bool)
    defined[[6, 10]] = False
    assert np.isnan(result.t_values[~defined]).all()
    expected_t = stats.ttest_1samp(x[:, defined], 0.0).statistic
    np.testing.assert_allclose(result.t_values[defined], expected_t, rtol=1e-10)
    threshold = stats.t.ppf(0.95, 4)
    assert result.threshold == pytest.approx(threshold)
    supra = np.flatnonzero(np.nan_to_num(result.t_values, nan=-np.inf) > threshold)
    runs = [list(g) for _, g in itertools.groupby(supra, key=lambda i, c=itertools.count(): i - next(c))]
    assert [list(c) for c in result.clusters] == runs
    assert all(6 not in c and 10 not in c for c in result.clusters)
    masses = [result.t_values[c].sum() for c in runs]
    null = [max(masses)]  # MNE's exact enumeration: the observed maximum, then every pattern but all -1
    for signs in itertools.product((1, -1), repeat=5):
        if all(sign == -1 for sign in signs):
            continue
        flipped = np.array(signs)[:, None] * x
        flipped[:, ~defined] = np.nan
        with np.errstate(invalid="ignore"):
            t = flipped.mean(axis=0) / (flipped.std(axis=0, ddof=1) / np.sqrt(5))
        null.append(_hand_max_mass(t, threshold))
    null = np.array(null)
    expected_p = [np.mean(null >= mass - 1e-12) for mass in masses]
    np.testing.assert_allclose(result.cluster_p_values, expected_p)


def test_model_improvement_with_undefined_points():
    rng = np.random.default_rng(2)
    r_b = rng.normal(0.2, 0.05, (6, 10))
    r_a = r_b + 0.05 + rng.normal(0, 0.01, (6, 10))
    r_a[1, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        compare_models_over_time(r_a, r_b, n_permutations=50)
    result = compare_models_over_time(r_a, r_b, n_permutations=50, undefined="nan")
    assert np.isnan(result.improvement[4]) and np.isnan(result.ratio[4])
    keep = np.arange(10) != 4
    np.testing.assert_allclose(result.improvement[keep], (r_a - r_b).mean(axis=0)[keep], atol=1e-12)
    np.testing.assert_allclose(result.ratio[keep], ((r_a - r_b).mean(axis=0) / r_b.mean(axis=0))[keep], rtol=1e-10)
    assert not result.significant_mask()[4]


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_bootstrap_with_an_undefined_eeg_rdm(rdms, method):
    models = rdms[3, :2]  # (2 models, 45)
    broken = rdms[:3].copy()
    broken[1, 2, 0] = np.nan  # subject 1, time 2
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_similarity(broken, models, n_bootstrap=20, method=method)
    result = bootstrap_similarity(broken, models, n_bootstrap=20, method=method, undefined="nan")
    clean = bootstrap_similarity(rdms[:3], models, n_bootstrap=20, method=method)
    assert np.isnan(result.estimate[:, 2]).all() and np.isnan(result.lower[:, 2]).all()
    assert np.isnan(result.samples[:, :, 2]).all()
    keep = np.arange(6) != 2
    np.testing.assert_allclose(result.estimate[:, keep], clean.estimate[:, keep], atol=1e-12)
    np.testing.assert_allclose(result.lower[:, keep], clean.lower[:, keep], atol=1e-10)
    np.testing.assert_allclose(result.upper[:, keep], clean.upper[:, keep], atol=1e-10)
    reference = stats.spearmanr if method == "spearman" else stats.pearsonr
    expected = np.mean([reference(models[0], rdms[s, 0]).statistic for s in range(3)])
    assert result.estimate[0, 0] == pytest.approx(expected, abs=1e-12)
