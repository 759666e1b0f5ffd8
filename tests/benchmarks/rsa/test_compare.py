"""RDM comparison against NeuroRA (rdm_correlation_spearman) and rsatoolbox (compare)."""
from __future__ import annotations

import numpy as np
import pytest
import rsatoolbox
from neurora.rdm_corr import rdm_correlation_spearman
from scipy.stats import rankdata

from benchmarks.rsa import compare, compare_rowwise, rank_rdms, to_matrix


@pytest.fixture
def rdm_sets():
    rng = np.random.default_rng(0)
    a = rng.random((4, 45))
    a[1] = np.round(a[1], 1)  # ties, as decoding accuracies have
    b = rng.random((3, 45))
    b[2] = np.round(b[2] * 3)
    return a, b


def test_spearman_equals_neurora(rdm_sets):
    a, b = rdm_sets
    ours = compare(a, b)
    expected = np.array([[rdm_correlation_spearman(to_matrix(x), to_matrix(y))[0] for y in b] for x in a])
    np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [("spearman", "spearman"), ("pearson", "corr"), ("kendall_tau_a", "tau-a")])
def test_methods_equal_rsatoolbox(rdm_sets, ours, theirs):
    a, b = rdm_sets
    expected = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a), rsatoolbox.rdm.RDMs(b), method=theirs)
    np.testing.assert_allclose(compare(a, b, method=ours), expected, atol=1e-12)


def test_tau_a_of_a_constant_rdm_is_zero_as_in_rsatoolbox():
    a = np.ones((1, 10))
    b = np.arange(10.0)[None]
    expected = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a), rsatoolbox.rdm.RDMs(b), method="tau-a")
    assert compare(a, b, "kendall_tau_a")[0, 0] == pytest.approx(float(expected[0, 0]), abs=1e-12) == 0.0


def test_rank_rdms_equals_scipy_rankdata_with_ties(rdm_sets):
    a, _ = rdm_sets
    values = np.concatenate([a, np.round(a * 4)])
    np.testing.assert_array_equal(rank_rdms(values), rankdata(values, axis=-1))
    np.testing.assert_array_equal(rank_rdms(values.reshape(2, 4, 45)), rankdata(values, axis=-1).reshape(2, 4, 45))


def test_rowwise_is_the_diagonal_and_vectors_are_accepted(rdm_sets):
    a, b = rdm_sets
    full = compare(a[:3], b)
    np.testing.assert_allclose(compare_rowwise(a[:3], b), np.diag(full), atol=1e-14)
    np.testing.assert_allclose(compare_rowwise(a[:3], b, "kendall_tau_a"), np.diag(compare(a[:3], b, "kendall_tau_a")))
    assert compare(a[0], b[0]).shape == (1, 1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a, b: compare(a, b, method="cosine"), "unknown method 'cosine'; expected one of 'spearman'"),
        (lambda a, b: compare(a, b[:, :36]), "rdms_a has 45 pairs per RDM but rdms_b has 36"),
        (lambda a, b: compare(a[:, :44], b[:, :44]), "rdms_a has 44 entries per RDM, which is not n\\*\\(n-1\\)/2"),
        (lambda a, b: compare(np.where(a > 0.5, np.nan, a), b), "rdms_a contains .* non-finite"),
        (lambda a, b: compare(a[None], b), r"rdms_a must be 1-D or 2-D"),
        (lambda a, b: compare(np.ones((2, 45)), b), r"rdms_a\[0\] is constant"),
        (lambda a, b: compare_rowwise(a, b), r"rdms_a has shape \(4, 45\) but rdms_b has \(3, 45\)"),
    ],
)
def test_compare_errors(rdm_sets, call, message):
    with pytest.raises(ValueError, match=message):
        call(*rdm_sets)
