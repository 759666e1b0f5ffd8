"""The paper's improvement numbers and the EEG-RDM entry point."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.rsa import (
    EEG_RDM_METHODS,
    compare_models_over_time,
    correlation_rdms,
    crossnobis_rdms,
    eeg_rdms,
    improvement_ratio,
    paired_cluster_test,
    similarity_improvement,
    svm_decoding_rdms,
)


def test_improvement_and_ratio():
    r_a = np.array([[0.12, 0.30, 0.0], [0.10, 0.20, 0.05]])
    r_b = np.array([[0.10, 0.20, 0.0], [0.05, 0.25, 0.10]])
    np.testing.assert_allclose(similarity_improvement(r_a, r_b), r_a - r_b)
    ratio = improvement_ratio(r_a, r_b)
    np.testing.assert_allclose(ratio[0, :2], [0.2, 0.5])
    assert np.isnan(ratio[0, 2])
    np.testing.assert_allclose(ratio[1], [1.0, -0.2, -0.5])
    with pytest.raises(ValueError, match=r"r_a has shape \(2, 3\) but r_b has \(3,\)"):
        similarity_improvement(r_a, r_b[0])
    with pytest.raises(ValueError, match="r_b contains 1 non-finite"):
        improvement_ratio(r_a, np.where(r_b == 0.25, np.nan, r_b))


def test_compare_models_over_time_uses_the_paired_cluster_test():
    rng = np.random.default_rng(0)
    baseline = 0.05 + 0.01 * rng.normal(size=(10, 30))
    better = baseline + np.r_[np.zeros(10), 0.02 * np.ones(10), np.zeros(10)] + 0.002 * rng.normal(size=(10, 30))
    result = compare_models_over_time(better, baseline, n_permutations=500, seed=2)
    np.testing.assert_allclose(result.improvement, (better - baseline).mean(axis=0))
    np.testing.assert_allclose(result.ratio, result.improvement / baseline.mean(axis=0))
    reference = paired_cluster_test(better, baseline, n_permutations=500, seed=2)
    np.testing.assert_array_equal(result.test.cluster_p_values, reference.cluster_p_values)
    mask = result.significant_mask()
    assert mask[10:20].all() and not mask[:9].any() and not mask[21:].any()


def test_eeg_rdms_dispatches_by_name(small_eeg):
    assert set(EEG_RDM_METHODS) == {"correlation", "euclidean", "crossnobis", "decoding-lda", "decoding-svm"}
    np.testing.assert_array_equal(eeg_rdms(small_eeg, "correlation"), correlation_rdms(small_eeg))
    precision = np.eye(6) * 2
    np.testing.assert_array_equal(eeg_rdms(small_eeg, "crossnobis", noise_precision=precision),
                                  crossnobis_rdms(small_eeg, precision))
    options = dict(navg=2, n_folds=3, n_repeats=1, seed=4)
    expected = svm_decoding_rdms(small_eeg, **options)
    np.testing.assert_array_equal(eeg_rdms(small_eeg, "decoding-svm", **options), expected)


def test_eeg_rdms_errors(small_eeg):
    with pytest.raises(ValueError, match="unknown method 'decoding'; expected one of 'correlation', 'euclidean'"):
        eeg_rdms(small_eeg, "decoding")
    with pytest.raises(TypeError, match="method 'correlation' does not take navg; it accepts no options"):
        eeg_rdms(small_eeg, "correlation", navg=5)
    with pytest.raises(TypeError, match="method 'decoding-lda' does not take c; it accepts navg, n_folds"):
        eeg_rdms(small_eeg, "decoding-lda", c=1.0)
