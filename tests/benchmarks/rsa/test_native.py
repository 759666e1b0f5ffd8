"""The numba kernels: no fast-math, cached, imported lazily, deterministic over threads; fold draws; rsatoolbox."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmarks.rsa import _native, draw_plan, to_rsatoolbox


def test_kernels_are_cached_and_compiled_without_fast_math():
    from benchmarks.rsa import _kernels

    dispatchers = [_kernels.svm_pair_accuracies, _kernels.lda_pair_accuracies, _kernels.weighted_ranks,
                   _kernels.weighted_rank_products, _kernels.draw_folds, _kernels._solve, _kernels._project,
                   _kernels._build_pseudo_trials]
    for dispatcher in dispatchers:
        assert not dispatcher.targetoptions.get("fastmath"), dispatcher.__name__
        assert type(dispatcher._cache).__name__ == "FunctionCache", dispatcher.__name__


def test_importing_benchmarks_does_not_import_numba():
    code = "import sys, benchmarks, benchmarks.rsa, benchmarks.rdm_cache; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_results_do_not_depend_on_the_thread_count(small_eeg):
    plan = draw_plan(5, 20, 7, navg=2, n_folds=3, n_repeats=2, seed=2)
    layout = np.ascontiguousarray(small_eeg.transpose(0, 1, 3, 2), dtype=np.float32)
    arguments = (layout, plan.pairs, plan.trial_order, plan.fold_of, plan.n_folds)
    one = _native.run_svm(*arguments, 1.0, 40, n_threads=1)
    np.testing.assert_array_equal(_native.run_svm(*arguments, 1.0, 40, n_threads=2), one)
    assert one.shape == (10, 7) and np.all((one >= 0) & (one <= 1))
    np.testing.assert_array_equal(_native.run_lda(*arguments, n_threads=1), _native.run_lda(*arguments, n_threads=2))


def test_weighted_ranks_equal_scipy_ranks_of_the_repeated_values():
    from scipy.stats import rankdata

    rng = np.random.default_rng(4)
    rdms = np.round(rng.random((4, 30)), 1)  # many ties
    weights = rng.integers(0, 4, 30).astype(np.float64)
    ranks, ties = _native.run_weighted_ranks(_native.tie_marked_orders(rdms), weights, n_threads=2)
    repeated = np.repeat(np.arange(30), weights.astype(int))
    for row, rank_row, tie_sum in zip(rdms, ranks, ties):
        expected = rankdata(row[repeated])  # average ranks of the explicitly repeated values
        np.testing.assert_allclose(rank_row[repeated], expected, atol=1e-12)
        _, counts = np.unique(row[repeated], return_counts=True)
        assert tie_sum == pytest.approx(float((counts**3 - counts).sum()))


def test_to_rsatoolbox_carries_descriptors():
    rdms = np.random.default_rng(0).random((3, 10))
    converted = to_rsatoolbox(rdms, measure="decoding accuracy", rdm_descriptors={"time": [0.0, 0.01, 0.02]},
                              pattern_descriptors={"image": list("abcde")})
    np.testing.assert_array_equal(converted.get_vectors(), rdms)
    assert converted.dissimilarity_measure == "decoding accuracy"
    assert converted.rdm_descriptors["time"] == [0.0, 0.01, 0.02]
    assert converted.pattern_descriptors["image"] == list("abcde")
    with pytest.raises(ValueError, match="rdm descriptor 'time' has 2 values for 3 RDMs"):
        to_rsatoolbox(rdms, rdm_descriptors={"time": [0, 1]})
    with pytest.raises(ValueError, match="pattern descriptor 'image' has 4 values for 5 images"):
        to_rsatoolbox(rdms, pattern_descriptors={"image": list("abcd")})
    with pytest.raises(ValueError, match="rdms has 9 entries per RDM"):
        to_rsatoolbox(rdms[:, :9])


def test_fold_draws_equal_the_numpy_generator():
    from benchmarks.rsa.decoding_plan import draw_folds_numpy

    drawn = _native.run_draw_folds(2**63 + 12345, 40, 9, 3, 4, 7, 3)
    np.testing.assert_array_equal(drawn, draw_folds_numpy(2**63 + 12345, 40, 9, 3, 4, 7, 3))
    assert np.all(np.sort(drawn, axis=-1) == np.array([0, 0, 0, 1, 1, 2, 2]))  # stratified: 7 = 3 + 2 + 2
    plan = draw_plan(12, 10, 4, navg=2, n_folds=3, n_repeats=2, seed=8)
    fold_seed = int(np.random.SeedSequence(8).generate_state(1, np.uint64)[0])
    np.testing.assert_array_equal(plan.fold_of, draw_folds_numpy(fold_seed, 0, 66, 2, 4, 5, 3))
