"""RankedRDMs: RDMs ranked once and reused; every value checked against scipy / rsatoolbox / a brute-force count."""
from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import rsatoolbox
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

from benchmarks.rsa import bootstrap_similarity, compare, compare_rowwise, rank_rdms
from benchmarks.rsa.compare import RankedRDMs

compare_module = importlib.import_module("benchmarks.rsa.compare")  # the module (the package exports the function)

N_IMAGES = 30
N_PAIRS = N_IMAGES * (N_IMAGES - 1) // 2


@pytest.fixture
def tied():
    """EEG-like RDMs (3 subjects x 5 times) of decoding accuracies on a coarse grid (many ties) and model RDMs with
    ties of their own (one coarse, one with a block of equal values, one continuous)."""
    rng = np.random.default_rng(7)
    eeg = np.round(0.5 + 0.2 * rng.random((3, 5, N_PAIRS)), 2)  # 21 distinct values over 435 pairs
    eeg[1, 2] = np.round(eeg[1, 2] * 20) / 20  # even coarser
    models = rng.random((3, N_PAIRS))
    models[0] = np.round(models[0] * 8)
    models[1, :200] = 0.25
    return eeg, models


def scipy_spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(spearmanr(x, y).statistic)


def brute_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """(concordant - discordant) / number of pairs, every pair of entries counted by hand."""
    signs = [np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in itertools.combinations(range(x.size), 2)]
    return float(np.sum(signs) / len(signs))


def test_spearman_with_cached_ranks_equals_scipy_with_ties_on_both_sides(tied):
    eeg, models = tied
    assert len(np.unique(eeg[0, 0])) < N_PAIRS / 10 and len(np.unique(models[0])) <= 9  # ties on both sides
    ranked = RankedRDMs(eeg)
    for s in range(3):
        ours = compare(models, ranked[s])  # (n_models, n_times)
        expected = np.array([[scipy_spearman(m, e) for e in eeg[s]] for m in models])
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
        flipped = compare(ranked[s], models)  # either side
        np.testing.assert_allclose(flipped, expected.T, rtol=0, atol=1e-12)
        # the same numbers as the array path, to the last bit (benchmark results do not move)
        np.testing.assert_array_equal(ours, compare(models, eeg[s]))


def test_cached_ranks_equal_rsatoolbox_for_every_method(tied):
    eeg, models = tied
    flat = eeg.reshape(-1, N_PAIRS)
    for ours, theirs in (("spearman", "spearman"), ("pearson", "corr"), ("kendall_tau_a", "tau-a")):
        expected = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(flat[:6]), rsatoolbox.rdm.RDMs(models), method=theirs)
        ranked = RankedRDMs(eeg, ours)
        got = np.concatenate([compare(ranked[0], models, ours), compare(ranked[1, :1], models, ours)])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_pearson_with_cached_rows_equals_scipy(tied):
    eeg, models = tied
    ranked = RankedRDMs(eeg[2], "pearson")
    expected = np.array([[pearsonr(m, e).statistic for e in eeg[2]] for m in models])
    np.testing.assert_allclose(compare(models, ranked, "pearson"), expected, rtol=0, atol=1e-12)


def test_tau_a_with_prepared_codes_equals_a_brute_force_count():
    rng = np.random.default_rng(3)
    eeg = np.round(rng.random((2, 4, 45)) * 5) / 5  # 10 images, heavy ties
    eeg[1, 3] = 0.5  # constant: tau-a 0, as in rsatoolbox
    models = np.stack([np.round(rng.random(45) * 3), rng.random(45), np.arange(45.0)])
    ranked = RankedRDMs(eeg, "kendall_tau_a")
    for s in range(2):
        expected = np.array([[brute_tau_a(m, e) for e in eeg[s]] for m in models])
        np.testing.assert_allclose(compare(models, ranked[s], "kendall_tau_a"), expected, rtol=0, atol=1e-12)
    assert compare(models, ranked[1], "kendall_tau_a")[:, 3].tolist() == [0.0, 0.0, 0.0]
    rowwise = compare_rowwise(ranked[0, :3], models, "kendall_tau_a")
    np.testing.assert_allclose(rowwise, [brute_tau_a(eeg[0, i], models[i]) for i in range(3)], rtol=0, atol=1e-12)


def test_tau_a_without_scipys_private_counter_gives_the_same_numbers(tied, monkeypatch):
    eeg, models = tied
    monkeypatch.setattr(compare_module, "_kendall_dis", None)
    ours = compare(eeg[0], models, "kendall_tau_a")
    total = N_PAIRS * (N_PAIRS - 1) / 2

    def tau_a(x, y):  # scipy's tau-b rescaled by its tie counts
        def tied_pairs(v):
            counts = np.unique(v, return_counts=True)[1]
            return (counts * (counts - 1) / 2).sum()
        return kendalltau(x, y).statistic * np.sqrt((total - tied_pairs(x)) * (total - tied_pairs(y))) / total

    np.testing.assert_allclose(ours, [[tau_a(e, m) for m in models] for e in eeg[0]], rtol=0, atol=1e-12)


def test_undefined_rows_are_nan_and_the_rest_exact(tied):
    eeg, models = tied
    eeg = eeg.copy()
    eeg[0, 1, 5] = np.nan  # a NaN entry
    eeg[2, 4] = 0.5  # a flat time point
    ranked = RankedRDMs(eeg, undefined="nan")
    np.testing.assert_array_equal(ranked.undefined_rows, [[False, True, False, False, False], [False] * 5,
                                                          [False, False, False, False, True]])
    for s in range(3):
        ours = compare(models, ranked[s], undefined="nan")
        for t in range(5):
            if ranked.undefined_rows[s, t]:
                assert np.isnan(ours[:, t]).all()
            else:
                np.testing.assert_allclose(ours[:, t], [scipy_spearman(m, eeg[s, t]) for m in models], atol=1e-12)
    with pytest.raises(ValueError, match=r"rdms_b\[1\] is undefined .*undefined='nan'"):
        compare(models, ranked[0])
    with pytest.raises(ValueError, match=r"eeg RDMs\[0\] is constant"):
        RankedRDMs(eeg[2, 4:], name="eeg RDMs")
    with pytest.raises(ValueError, match="non-finite"):
        RankedRDMs(eeg)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda r, m: compare(m, r[0], "pearson"), ValueError, "prepared for method 'spearman'.*'pearson'"),
        (lambda r, m: compare(m, r), ValueError, r"shape \(3, 5, 435\).*index its leading axes"),
        (lambda r, m: r[0, 1, 2], IndexError, "never along the pairs"),
        (lambda r, m: compare(m[2:, :11], r[0]), ValueError, "rdms_a has 11 entries per RDM"),
        (lambda r, m: compare(m[2:, :45], r[0]), ValueError, "rdms_a has 45 pairs per RDM but rdms_b has 435"),
        (lambda r, m: RankedRDMs(np.full((2, 45), np.inf), undefined="nan"), ValueError, "infinite values"),
        (lambda r, m: bootstrap_similarity(r[0], m[:1]), ValueError, "must be 3-D"),
    ],
)
def test_errors_name_the_argument(tied, call, error, message):
    eeg, models = tied
    with pytest.raises(error, match=message):
        call(RankedRDMs(eeg), models)


def test_ranks_are_scipys_average_ranks(tied):
    eeg, _ = tied
    unit = RankedRDMs(eeg)._prepared[0]
    expected = rankdata(eeg, axis=-1)
    expected -= expected.mean(axis=-1, keepdims=True)
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(unit, expected, rtol=0, atol=1e-15)


def test_bootstrap_reuses_sort_orders_and_matches_the_array_path(tied, monkeypatch):
    eeg, models = tied
    calls = []
    original = compare_module.tie_marked_orders
    monkeypatch.setattr(compare_module, "tie_marked_orders", lambda rdms: calls.append(rdms.shape) or original(rdms))
    ranked = RankedRDMs(eeg)
    for subjects in ([0, 2], [0, 1, 2], [1, 2]):  # e.g. several models, each scored against some subjects
        ours = bootstrap_similarity(ranked[subjects], models, n_bootstrap=30, seed=4)
        plain = bootstrap_similarity(eeg[subjects], models, n_bootstrap=30, seed=4)
        np.testing.assert_array_equal(ours.samples, plain.samples)
        np.testing.assert_array_equal(ours.estimate, plain.estimate)
    assert calls == [(15, N_PAIRS)]  # all subjects' orders sorted once, on first use
    orders = ranked.sort_orders() & 0x7FFFFFFF
    ordered = np.take_along_axis(eeg, orders.astype(np.int64), axis=-1)
    assert (np.diff(ordered, axis=-1) >= 0).all()  # each row's order sorts it
    # bit 31 marks exactly the last index of each run of equal values
    last = np.ones(eeg.shape, dtype=bool)
    last[..., :-1] = ordered[..., 1:] != ordered[..., :-1]
    np.testing.assert_array_equal(ranked.sort_orders() >= 0x80000000, last)


def test_bootstrap_with_undefined_prepared_rows(tied):
    eeg, models = tied
    eeg = eeg.copy()
    eeg[1, 3, :] = np.nan
    ranked = RankedRDMs(eeg, undefined="nan")
    ours = bootstrap_similarity(ranked, models, n_bootstrap=20, undefined="nan")
    plain = bootstrap_similarity(eeg, models, n_bootstrap=20, undefined="nan")
    np.testing.assert_array_equal(ours.samples, plain.samples)
    assert np.isnan(ours.estimate[:, 3]).all() and np.isfinite(np.delete(ours.estimate, 3, axis=1)).all()
    with pytest.raises(ValueError, match=r"eeg_rdms\[1, 3\] is undefined"):
        bootstrap_similarity(ranked, models, n_bootstrap=2)
    with pytest.raises(ValueError, match="prepared for method 'spearman' but the bootstrap uses 'pearson'"):
        bootstrap_similarity(ranked, models, n_bootstrap=2, method="pearson", undefined="nan")


def test_ranking_on_threads_gives_scipys_ranks_whatever_the_thread_count():
    rng = np.random.default_rng(2)
    values = np.round(rng.random((100, 300)) * 30)  # 4 blocks of rows, ties everywhere
    expected = rankdata(values, axis=-1)
    for n_threads in (1, 3, None):
        np.testing.assert_array_equal(rank_rdms(values, n_threads=n_threads), expected)
    with pytest.raises(ValueError, match="n_threads must be an integer >= 1, got 0"):
        rank_rdms(values, n_threads=0)


def test_pearson_bootstrap_from_prepared_rows_equals_the_array_path(tied):
    eeg, models = tied
    ours = bootstrap_similarity(RankedRDMs(eeg, "pearson"), models, n_bootstrap=25, method="pearson", seed=1)
    plain = bootstrap_similarity(eeg, models, n_bootstrap=25, method="pearson", seed=1)
    np.testing.assert_allclose(ours.samples, plain.samples, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.estimate, plain.estimate)


def test_the_given_array_is_not_kept(tied):
    eeg, models = tied
    eeg = eeg.copy()
    ranked = RankedRDMs(eeg)
    expected = np.array([[scipy_spearman(m, e) for e in eeg[0]] for m in models])
    eeg[0] = eeg[0, ::-1]  # changed after ranking: the ranked copy still gives the original numbers
    np.testing.assert_allclose(compare(models, ranked[0]), expected, rtol=0, atol=1e-12)
