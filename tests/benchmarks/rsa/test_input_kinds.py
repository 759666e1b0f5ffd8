"""Inputs that used to give plausible but wrong numbers with no error, each checked against scipy or by hand:
square RDMs read as condensed stacks, ranks of other RDMs, extreme scales and offsets, degenerate sizes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr, spearmanr

from benchmarks.rsa import bootstrap_similarity, compare, compare_rowwise, noise_ceiling, rank_rdms
from benchmarks.rsa.compare import RankedRDMs
from benchmarks.rsa.cross_temporal import cross_temporal_similarity
from benchmarks.rsa.rdm import check_rdms, to_matrix

SQUARE = "i.e. square RDMs; this function takes condensed RDMs"
FLATTENED = "i.e. flattened square RDMs"


def square_rdms(n_images: int, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([squareform(pdist(rng.normal(size=(n_images, 4)))) for _ in range(count)])


@pytest.mark.parametrize("n_images", [3, 6, 10])  # n x n entries are also the pairs of other image counts
def test_square_rdms_are_refused_by_every_entry_point(n_images):
    a, b = square_rdms(n_images, 2)
    stack = square_rdms(n_images, 3, seed=1)
    calls = [
        lambda: compare(a, b), lambda: compare_rowwise(a, b), lambda: RankedRDMs(a), lambda: check_rdms(a),
        lambda: noise_ceiling(stack),
        lambda: bootstrap_similarity(stack, a[:1], n_bootstrap=5),
        lambda: cross_temporal_similarity(stack, np.random.default_rng(1).random((3, 2, n_images))),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=SQUARE):
            call()
    if (n_images * n_images * 8 + 1) ** 0.5 % 1 == 0:  # n*n entries are the pairs of other images: a flattened square
        with pytest.raises(ValueError, match=FLATTENED):
            compare(a.ravel(), b.ravel())
    # the same RDMs condensed: scipy's Spearman
    condensed_a, condensed_b = squareform(a, checks=False), squareform(b, checks=False)
    assert compare(condensed_a, condensed_b)[0, 0] == pytest.approx(spearmanr(condensed_a, condensed_b).statistic,
                                                                     abs=1e-12)


def test_flattened_squares_of_36_entries_and_genuine_stacks_of_square_shape():
    a, b = square_rdms(6, 2)
    with pytest.raises(ValueError, match=FLATTENED + r"; .*squareform\(rdm, checks=False\)"):
        compare(a.ravel(), b.ravel())  # 36 entries would be read as the 36 pairs of 9 images
    # a real stack that happens to be (3, 3): 3 RDMs of 3 pairs, not symmetric with a zero diagonal, is compared
    rng = np.random.default_rng(2)
    stack_a, stack_b = rng.random((3, 3)), rng.random((3, 3))
    expected = [spearmanr(x, y).statistic for x, y in zip(stack_a, stack_b)]
    np.testing.assert_allclose(compare_rowwise(stack_a, stack_b), expected, atol=1e-12)
    assert to_matrix(squareform(a, checks=False)).shape == (6, 6)


def leave_one_out_lower_bound(subjects: np.ndarray) -> np.ndarray:
    """By hand: mean over subjects of Spearman(subject, mean of the others), per time point."""
    n = subjects.shape[0]
    return np.array([np.mean([spearmanr(subjects[s, t], np.delete(subjects, s, axis=0)[:, t].mean(axis=0)).statistic
                              for s in range(n)]) for t in range(subjects.shape[1])])


def test_noise_ceiling_refuses_the_ranks_of_other_rdms():
    rng = np.random.default_rng(3)
    subjects = rng.normal(size=190) + rng.normal(size=(4, 3, 190))
    lower, _ = noise_ceiling(subjects, ranked=RankedRDMs(subjects))
    np.testing.assert_allclose(lower, leave_one_out_lower_bound(subjects), atol=1e-12)
    for other in (rng.normal(size=subjects.shape), subjects[::-1], subjects[:, ::-1]):
        with pytest.raises(ValueError, match=r"was not prepared from subject_rdms: at \[0, 0\] the order of entries"):
            noise_ceiling(subjects, ranked=RankedRDMs(other))
    pearson = RankedRDMs(subjects, "pearson")
    assert np.array_equal(noise_ceiling(subjects, "pearson", ranked=pearson)[0], noise_ceiling(subjects, "pearson")[0])


@pytest.mark.parametrize("factor", [1e160, 1e-160, 1.0])
def test_pearson_at_extreme_scales_equals_scipy(factor):
    rng = np.random.default_rng(4)
    x = rng.normal(size=190)
    y = x + rng.normal(size=190)
    expected = pearsonr(x, y).statistic  # scale-free: computed once at scale 1
    assert compare(x * factor, y * factor, "pearson")[0, 0] == pytest.approx(expected, abs=1e-12)
    assert compare(RankedRDMs(x * factor, "pearson"), y, "pearson")[0, 0] == pytest.approx(expected, abs=1e-12)


def test_pearson_bootstrap_ignores_a_large_common_offset():
    rng = np.random.default_rng(5)
    base = rng.normal(size=105)  # 15 images
    eeg, model = base + rng.normal(size=(3, 1, 105)), (base + rng.normal(size=105))[None]
    reference = bootstrap_similarity(eeg, model, n_bootstrap=100, resample="images", method="pearson", seed=1)
    for offset in (1e8, 1e10):  # Pearson is shift-invariant: every resample must be the offset-free one
        shifted = bootstrap_similarity(eeg + offset, model - offset, n_bootstrap=100, resample="images",
                                       method="pearson", seed=1)
        np.testing.assert_allclose(shifted.samples, reference.samples, atol=1e-6)
        assert np.isfinite(shifted.samples).all()


def test_degenerate_inputs_are_errors_or_counted_not_silent():
    with pytest.raises(ValueError, match=r"rdms holds NaN \(first at index \(1,\)\); ranks are undefined"):
        rank_rdms(np.array([1.0, np.nan, 2.0, 2.0]))
    np.testing.assert_array_equal(rank_rdms(np.array([1.0, 3.0, 2.0, 2.0])), [1.0, 4.0, 2.5, 2.5])
    with pytest.raises(ValueError, match=r"rdms_a has 1 pair \(2 images\); Kendall's tau-a"):
        compare(np.array([1.0]), np.array([2.0]), "kendall_tau_a")
    with pytest.raises(ValueError, match="1 pair"):
        RankedRDMs(np.array([[1.0], [2.0]]), "kendall_tau_a")
    ids = [f"image{i}" for i in range(5)]
    with pytest.raises(ValueError, match="ids_a names 5 stimuli \\(10 pairs\\) but its RDMs have 45 pairs"):
        compare(np.arange(45.0), np.arange(45.0)[::-1], ids_a=ids, ids_b=ids)
    # 3 images: most image resamples repeat one image and leave a constant RDM; the interval rests on the rest
    rng = np.random.default_rng(6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bootstrap_similarity(rng.normal(size=(4, 1, 3)), rng.normal(size=(1, 3)), n_bootstrap=200,
                                      resample="images", seed=0)
    finite = np.isfinite(result.samples).sum(axis=0)
    assert 0 < finite[0, 0] < 200 and np.array_equal(result.n_defined, finite)
    assert any(f"{200 - finite[0, 0]} of 200 resamples gave an undefined similarity" in str(w.message)
               for w in caught)


def test_smoothing_keeps_ties_and_constant_rdms_exact():
    from benchmarks.rsa.decoding_plan import smooth_over_time

    rng = np.random.default_rng(7)
    accuracies = np.round(rng.random((40, 30)) * 40) / 40  # (pairs, times) on a decoding grid: many ties
    accuracies[:, 9:16] = 1.0  # every pair decoded perfectly: a constant RDM at those times
    accuracies[5] = accuracies[3]  # two pairs with the same time course
    smoothed = smooth_over_time(accuracies, 5)
    expected = np.array([[accuracies[p, max(0, t - 2):t + 3].mean() for t in range(30)] for p in range(40)])
    np.testing.assert_allclose(smoothed, expected, rtol=0, atol=1e-15)
    assert np.array_equal(smoothed[5], smoothed[3])
    assert (smoothed[:, 12] == 1.0).all()  # still exactly constant: its correlation stays undefined


def test_noise_ceiling_of_tied_rdms_equals_a_hand_leave_one_out():
    rng = np.random.default_rng(8)
    base = np.round(rng.random(45) * 40) / 40  # accuracies on a grid of 1/40, not exact in binary
    subjects = np.clip(base + np.round(rng.normal(size=(10, 45)) * 2) / 40, 0, 1)  # ties within and across subjects
    lower, upper = noise_ceiling(subjects)
    hand_lower = np.mean([spearmanr(subjects[s], np.delete(subjects, s, axis=0).mean(axis=0)).statistic
                          for s in range(10)])
    hand_upper = np.mean([spearmanr(subjects[s], subjects.mean(axis=0)).statistic for s in range(10)])
    assert lower == pytest.approx(hand_lower, abs=1e-12) and upper == pytest.approx(hand_upper, abs=1e-12)


def test_decoding_rdms_are_correctly_rounded_rationals_of_the_protocol():
    """Accuracies are k / D (D = repeats x folds x test-set size): each smoothed value is float(Fraction(...)) of
    the exact mean, so equal exact means are equal floats (ties a rank correlation must see as ties)."""
    from fractions import Fraction

    from benchmarks.rsa.decoding import svm_decoding_rdms
    from benchmarks.rsa.decoding_plan import accuracy_denominator, smooth_over_time

    rng = np.random.default_rng(9)
    eeg = rng.normal(size=(5, 12, 4, 9)) + rng.normal(size=(5, 1, 4, 1)) * 3
    raw = svm_decoding_rdms(eeg, navg=2, n_folds=3, n_repeats=2, smooth_window=1)  # (times, pairs)
    denominator = accuracy_denominator(6, 3, 2)
    assert denominator == 2 * 3 * 4
    numerators = np.round(raw * denominator)
    assert np.array_equal(raw, numerators / denominator)
    smoothed = svm_decoding_rdms(eeg, navg=2, n_folds=3, n_repeats=2, smooth_window=3)
    for t in range(9):
        window = range(max(0, t - 1), min(9, t + 2))
        for pair in range(10):
            exact = sum(Fraction(int(numerators[s, pair]), denominator) for s in window) / len(window)
            assert smoothed[t, pair] == float(exact)
    # two time courses with the same exact window means from different values: equal floats
    a, b = np.array([[0.1, 0.2, 0.3]]), np.array([[0.15, 0.15, 0.3]])  # both mean 0.2 exactly
    assert smooth_over_time(a, 3)[0, 1] != smooth_over_time(b, 3)[0, 1]  # float sums: 0.6000000000000001 vs 0.6
    assert smooth_over_time(a, 3, denominator=20)[0, 1] == smooth_over_time(b, 3, denominator=20)[0, 1] == 0.2
