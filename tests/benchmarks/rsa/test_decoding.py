"""Pairwise decoding RDMs against NeuroRA's tbyt_decoding_kfold, sklearn's SVC and LDA, and between backends."""
from __future__ import annotations

import numpy as np
import pytest
from neurora.decoding import tbyt_decoding_kfold
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from benchmarks.rsa import (
    DecodingPlan,
    draw_plan,
    lda_decoding_rdms,
    noise_covariances,
    smooth_over_time,
    svm_decoding_rdms,
)
from benchmarks.rsa.decoding import whitening_matrices

NAVG, FOLDS, REPEATS = 5, 4, 5
INT32_MAX = np.iinfo(np.int32).max


def neurora_pair_input(data: np.ndarray, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """NeuroRA's input for one image pair: data (1, 2 * n_reps, channels, times), labels 0 / 1."""
    trials = np.concatenate([data[pair[0]], data[pair[1]]])[None]
    labels = np.repeat([0, 1], data.shape[1])[None]
    return trials, labels


def neurora_plan(data: np.ndarray, pairs: list[tuple[int, int]], seed: int) -> DecodingPlan:
    """The pseudo-trials and folds NeuroRA 2.0.1 draws for ``random_state=seed`` (time_win = time_step = 1)."""
    n_reps, n_times = data.shape[1], data.shape[3]
    n_pseudo = n_reps // NAVG
    subject_seed = int(np.random.default_rng(seed).integers(0, INT32_MAX, size=1)[0])
    orders, folds = [], []
    for _ in pairs:
        rng = np.random.default_rng(subject_seed)
        order = np.empty((REPEATS, 2, n_pseudo * NAVG), dtype=np.int64)
        for r in range(REPEATS):
            for c in range(2):
                order[r, c] = rng.permutation(np.arange(n_reps) + c * n_reps)[: n_pseudo * NAVG] - c * n_reps
        labels = np.repeat([0, 1], n_pseudo)
        fold_of = np.empty((REPEATS, n_times, 2, n_pseudo), dtype=np.int8)
        for t in range(n_times):
            time_rng = np.random.default_rng(subject_seed + t + 1)
            for r in range(REPEATS):
                splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=int(time_rng.integers(0, INT32_MAX)))
                assignment = np.empty(2 * n_pseudo, dtype=np.int8)
                for fold, (_, test) in enumerate(splitter.split(np.zeros((2 * n_pseudo, 1)), labels)):
                    assignment[test] = fold
                fold_of[r, t] = assignment.reshape(2, n_pseudo)
        orders.append(order)
        folds.append(fold_of)
    return DecodingPlan(np.array(pairs), np.stack(orders), np.stack(folds), FOLDS)


@pytest.fixture(scope="module")
def neurora_case(make_eeg):
    data = make_eeg(n_images=4, n_reps=80, n_channels=17, n_times=6, strength=0.5, seed=2)
    pairs = [(0, 1), (0, 3), (2, 3)]
    reference = []
    for pair in pairs:
        trials, labels = neurora_pair_input(data, pair)
        reference.append(
            tbyt_decoding_kfold(trials, labels, n=2, navg=NAVG, time_win=1, time_step=1, nfolds=FOLDS,
                                nrepeats=REPEATS, random_state=7)[0]
        )
    return data, pairs, np.array(reference)


def test_svm_replays_neurora_exactly_with_its_random_stream(neurora_case):
    data, pairs, reference = neurora_case
    plan = neurora_plan(data, pairs, seed=7)
    ours = svm_decoding_rdms(data, plan=plan, smooth_window=1)
    assert ours.shape == (data.shape[3], len(pairs))
    assert np.abs(ours.T - reference).mean() <= 0.005
    assert reference[:, -1].mean() > 0.7 and reference[:, 0].mean() < 0.65  # the case has signal to find
    precise = svm_decoding_rdms(data, plan=plan, smooth_window=1, n_iter=150)
    np.testing.assert_allclose(precise.T, reference, atol=1 / 160 + 1e-12)


def test_svm_protocol_agrees_with_neurora_with_independent_draws(neurora_case):
    data, pairs, reference = neurora_case
    ours = svm_decoding_rdms(data, seed=11, smooth_window=1)
    index = [draw_plan(4, 80, 6).pairs.tolist().index(list(pair)) for pair in pairs]
    assert np.abs(ours[:, index].mean(axis=1) - reference.mean(axis=0)).mean() <= 0.02


# (images, repetitions, navg, folds): 2 x 10 pseudo-trials in 3 folds train on 13 or 14 rows (the generic loops);
# 2 x 16 in 4 folds train on 24 rows, THINGS-EEG2's default protocol, which has the kernel's fast FISTA product
@pytest.mark.parametrize("n_images, n_reps, navg, n_folds", [(5, 20, 2, 3), (3, 16, 1, 4)])
def test_svm_with_more_iterations_equals_sklearn_svc_fit_by_fit(make_eeg, n_images, n_reps, navg, n_folds):
    n_times = 7
    data = make_eeg(n_images=n_images, n_reps=n_reps, n_channels=6, n_times=n_times, seed=1)
    plan = draw_plan(n_images, n_reps, n_times, navg=navg, n_folds=n_folds, n_repeats=2, seed=3)
    fast = svm_decoding_rdms(data, navg=navg, n_folds=n_folds, n_repeats=2, seed=3, smooth_window=1)
    precise = svm_decoding_rdms(data, plan=plan, smooth_window=1, n_iter=300)
    expected = np.zeros_like(precise)
    for p, (a, b) in enumerate(plan.pairs):
        for r in range(plan.n_repeats):
            sets = [data[image][plan.trial_order[p, r, c]].reshape(plan.n_pseudo, navg, 6, n_times).mean(axis=1)
                    for c, image in enumerate((a, b))]
            x = np.concatenate(sets)
            y = np.repeat([0, 1], plan.n_pseudo)
            for t in range(n_times):
                folds = plan.fold_of[p, r, t].reshape(-1)
                for fold in range(plan.n_folds):
                    model = SVC(kernel="linear", C=1.0, tol=1e-6).fit(x[folds != fold, :, t], y[folds != fold])
                    expected[t, p] += model.score(x[folds == fold, :, t], y[folds == fold]) / (2 * n_folds)
    np.testing.assert_allclose(precise, expected, atol=1e-9)
    assert np.abs(fast - expected).mean() <= 0.01


@pytest.mark.parametrize("n_times", [7, 37])  # 37: the numba kernel's time blocks of 16, the last one partial
def test_lda_equals_sklearn_lda_with_the_same_covariance(make_eeg, n_times):
    small_eeg = make_eeg(n_images=5, n_reps=20, n_channels=6, n_times=n_times, seed=1)
    class FixedCovariance:
        def __init__(self, covariance):
            self.covariance_ = covariance

        def fit(self, x, y=None):
            return self

    plan = draw_plan(5, 20, n_times, navg=2, n_folds=3, n_repeats=2, seed=5)
    ours = lda_decoding_rdms(small_eeg, plan=plan, smooth_window=1, backend="numba")
    covariances = noise_covariances(small_eeg)
    expected = np.zeros_like(ours)
    for p, (a, b) in enumerate(plan.pairs):
        for r in range(plan.n_repeats):
            sets = [small_eeg[image][plan.trial_order[p, r, c]].reshape(plan.n_pseudo, 2, 6, n_times).mean(axis=1)
                    for c, image in enumerate((a, b))]
            x = np.concatenate(sets)
            y = np.repeat([0, 1], plan.n_pseudo)
            for t in range(n_times):
                folds = plan.fold_of[p, r, t].reshape(-1)
                for fold in range(plan.n_folds):
                    estimator = FixedCovariance(covariances[t])
                    lda = LinearDiscriminantAnalysis(solver="lsqr", covariance_estimator=estimator)
                    lda.fit(x[folds != fold, :, t], y[folds != fold])
                    expected[t, p] += lda.score(x[folds == fold, :, t], y[folds == fold]) / 6
    np.testing.assert_allclose(ours, expected, atol=1e-9)


def test_noise_covariances_shrink_towards_the_scaled_identity(small_eeg):
    from sklearn.covariance import ledoit_wolf

    residuals = (small_eeg - small_eeg.mean(axis=1, keepdims=True))[..., 3].reshape(-1, 6)
    np.testing.assert_allclose(noise_covariances(small_eeg)[3], ledoit_wolf(residuals, assume_centered=True)[0])
    sample = residuals.T @ residuals / len(residuals)
    target = np.trace(sample) / 6 * np.eye(6)
    np.testing.assert_allclose(noise_covariances(small_eeg, 0.3)[3], 0.7 * sample + 0.3 * target)
    whitening = whitening_matrices(noise_covariances(small_eeg))
    np.testing.assert_allclose(whitening[3] @ noise_covariances(small_eeg)[3] @ whitening[3], np.eye(6), atol=1e-10)


@pytest.mark.parametrize("function", [svm_decoding_rdms, lda_decoding_rdms])
def test_numba_and_torch_backends_agree(small_eeg, function):
    options = dict(navg=2, n_folds=3, n_repeats=2, seed=1)
    on_numba = function(small_eeg, backend="numba", **options)
    torch_cpu = function(small_eeg, backend="torch", device="cpu", **options)
    assert np.abs(on_numba - torch_cpu).max() <= 0.02
    assert np.abs(on_numba - torch_cpu).mean() <= 0.002


def test_decoding_finds_signal_only_after_onset_and_smooths(eeg):
    raw = svm_decoding_rdms(eeg, smooth_window=1)
    assert raw.shape == (8, 15)
    assert abs(raw[:2].mean() - 0.5) < 0.05  # no signal before onset: chance
    assert raw[-2:].mean() > 0.8
    np.testing.assert_allclose(svm_decoding_rdms(eeg), smooth_over_time(raw.T, 5).T)
    lda = lda_decoding_rdms(eeg, smooth_window=1)
    assert abs(lda[:2].mean() - 0.5) < 0.05 and lda[-2:].mean() > 0.8


def test_same_seed_same_rdm_other_seed_other_draws(small_eeg):
    options = dict(navg=2, n_folds=3, n_repeats=1)
    first = lda_decoding_rdms(small_eeg, seed=4, **options)
    np.testing.assert_array_equal(first, lda_decoding_rdms(small_eeg, seed=4, **options))
    assert not np.array_equal(first, lda_decoding_rdms(small_eeg, seed=5, **options))


def test_plans_are_stratified_and_independent_of_chunking():
    plan = draw_plan(30, 12, 4, navg=3, n_folds=2, n_repeats=2, seed=9)
    assert plan.trial_order.shape == (435, 2, 2, 12) and plan.fold_of.shape == (435, 2, 4, 2, 4)
    assert np.all(np.sort(plan.trial_order, axis=-1) == np.arange(12))
    assert np.all((plan.fold_of == 0).sum(axis=-1) == 2)
    part = draw_plan(30, 12, 4, navg=3, n_folds=2, n_repeats=2, seed=9, pair_slice=slice(60, 140))
    np.testing.assert_array_equal(part.trial_order, plan.trial_order[60:140])
    np.testing.assert_array_equal(part.fold_of, plan.fold_of[60:140])
    np.testing.assert_array_equal(part.pairs, plan.pairs[60:140])
    shared = draw_plan(30, 12, 4, navg=3, n_folds=2, folds_per_time=False)
    assert shared.fold_of.shape[2] == 1


@pytest.mark.parametrize("given", [False, True])
def test_chunks_of_changing_size_cover_every_pair_once(given):
    """The torch backend's chunk size changes after its first chunk on CUDA; each pair is still decoded once, with
    its own draws (compared with one call on all pairs)."""
    from benchmarks.rsa.decoding import _run_chunks

    full = draw_plan(12, 12, 3, navg=3, n_folds=2, n_repeats=1, seed=4)
    layout = np.zeros((12, 12, 3, 2), dtype=np.float32)
    seen = []

    def run(part):
        seen.append(len(part.pairs))
        return np.repeat(part.trial_order[:, 0, 0, :1] * 1000.0 + (part.pairs @ [100, 1])[:, None], 3, axis=1)

    sizes = iter([5, 7, 3, 60])

    def draw(part):
        return draw_plan(12, 12, 3, navg=3, n_folds=2, n_repeats=1, seed=4, pair_slice=part)

    got = _run_chunks(layout, full if given else None, draw, 66, lambda: next(sizes), run)
    assert seen == [5, 7, 3, 51]
    expected = np.repeat(full.trial_order[:, 0, 0, :1] * 1000.0 + (full.pairs @ [100, 1])[:, None], 3, axis=1)
    np.testing.assert_array_equal(got, expected)


def test_smoothing_is_a_centred_window_that_shrinks_at_the_edges():
    values = np.random.default_rng(0).random((3, 9))
    smoothed = smooth_over_time(values, 5)
    for t in range(9):
        np.testing.assert_allclose(smoothed[:, t], values[:, max(0, t - 2):t + 3].mean(axis=1))
    np.testing.assert_allclose(smooth_over_time(values, 4)[:, 4], values[:, 2:6].mean(axis=1))
    np.testing.assert_array_equal(smooth_over_time(values, 1), values)


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(navg=21), ValueError, r"navg=21 is larger than the number of repetitions per image \(20\)"),
        (dict(navg=8), ValueError, "2 pseudo-trial\\(s\\) per image, fewer than n_folds=4"),
        (dict(navg=0), ValueError, "navg must be an integer >= 1"),
        (dict(n_folds=1), ValueError, "n_folds must be an integer >= 2"),
        (dict(n_repeats=0), ValueError, "n_repeats must be an integer >= 1"),
        (dict(smooth_window=0), ValueError, "smooth_window must be an integer >= 1"),
        (dict(backend="gpu"), ValueError, "unknown backend 'gpu'; expected one of 'auto', 'numba', 'torch'"),
        (dict(backend="native"), ValueError, "unknown backend 'native'; expected one of 'auto', 'numba', 'torch'"),
        (dict(backend="numba", device="cuda"), ValueError, "backend='numba' runs on the CPU"),
        (dict(seed="a"), ValueError, r"seed must be an integer in \[0, 2\*\*32\), got 'a'"),
        (dict(seed=-1), ValueError, r"seed must be an integer in \[0, 2\*\*32\), got -1"),
        (dict(seed=1.5), ValueError, r"seed must be an integer in \[0, 2\*\*32\), got 1.5"),
    ],
)
@pytest.mark.parametrize("function", [svm_decoding_rdms, lda_decoding_rdms])
def test_decoding_option_errors(small_eeg, function, options, error, message):
    with pytest.raises(error, match=message):
        function(small_eeg, **options)


def test_decoding_data_errors(small_eeg):
    with pytest.raises(ValueError, match=r"data must be 4-D"):
        svm_decoding_rdms(small_eeg[..., 0])
    bad = small_eeg.copy()
    bad[1, 2, 3, 4] = np.nan
    for function in (svm_decoding_rdms, lda_decoding_rdms):
        with pytest.raises(ValueError, match=r"data contains 1 non-finite value.*\(1, 2, 3, 4\)"):
            function(bad, navg=2)
    # C reaches the kernels as float32: inf / NaN, or values that round to 0 or overflow there, would give wrong
    # accuracies with no error
    for c in (0, -1.0, float("inf"), float("nan"), 1e-40, 1e39, True, "1"):
        with pytest.raises(ValueError, match=r"c must be a finite positive number in \[.*\] \(the float32 range"):
            svm_decoding_rdms(small_eeg, navg=2, c=c)
    with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
        svm_decoding_rdms(small_eeg, navg=2, n_iter=0)
    with pytest.raises(ValueError, match="shrinkage must be 'ledoit-wolf' or a number in"):
        lda_decoding_rdms(small_eeg, navg=2, shrinkage=2.0)
    with pytest.raises(ValueError, match="singular"):
        lda_decoding_rdms(np.repeat(small_eeg[:, :, :1], 3, axis=2), navg=2, shrinkage=0.0)


def test_plan_errors(small_eeg):
    plan = draw_plan(5, 20, 7, navg=2, n_folds=3, n_repeats=2)
    with pytest.raises(ValueError, match="repetition indices outside \\[0, 10\\)"):
        svm_decoding_rdms(small_eeg[:, :10], plan=plan)
    with pytest.raises(ValueError, match="fold time points; data has 3"):
        svm_decoding_rdms(small_eeg[..., :3], plan=plan)
    broken = DecodingPlan(plan.pairs, plan.trial_order, np.zeros_like(plan.fold_of), 3)
    with pytest.raises(ValueError, match="leaves a fold without a test pseudo-trial"):
        svm_decoding_rdms(small_eeg, plan=broken)
    wrong_pairs = DecodingPlan(plan.pairs + 5, plan.trial_order, plan.fold_of, 3)
    with pytest.raises(ValueError, match="two different image indices in \\[0, 5\\)"):
        lda_decoding_rdms(small_eeg, plan=wrong_pairs)
    with pytest.raises(ValueError, match="pair_slice must be contiguous"):
        draw_plan(5, 20, 7, navg=2, n_folds=3, pair_slice=slice(0, 6, 2))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_a_zero_decision_counts_as_the_first_image_as_sklearn_predicts(backend):
    # constant EEG: every decision is a tie; sklearn's SVC predicts its first class for all test trials, so half are
    # right (accuracy 0.5), where counting a tie as wrong for both images gave 0.0
    flat = np.ones((3, 8, 4, 3))
    x, y = np.ones((12, 4)), np.repeat([0, 1], 6)
    expected = SVC(kernel="linear", C=1.0).fit(x, y).score(np.ones((4, 4)), np.repeat([0, 1], 2))
    ours = svm_decoding_rdms(flat, navg=1, n_folds=4, smooth_window=1, backend=backend)
    np.testing.assert_array_equal(ours, np.full_like(ours, expected))
    assert expected == 0.5


def test_values_whose_float32_sums_would_overflow_are_refused(make_eeg):
    data = make_eeg(n_images=3, n_reps=8, n_channels=4, n_times=3)
    assert svm_decoding_rdms(data * 1e6, navg=2, n_folds=2, smooth_window=1).shape == (3, 3)
    with pytest.raises(ValueError, match=r"largest \|value\| .* float32 sums overflow; rescale"):
        svm_decoding_rdms(data * 1e15, navg=2, n_folds=2, smooth_window=1)
