"""Noise ceiling: definition (leave-one-subject-out / all subjects) and rsatoolbox's boot_noise_ceiling."""
from __future__ import annotations

import numpy as np
import pytest
import rsatoolbox
from rsatoolbox.inference import boot_noise_ceiling
from scipy.stats import pearsonr, spearmanr

from benchmarks.rsa import noise_ceiling


@pytest.fixture
def subject_rdms():
    rng = np.random.default_rng(0)
    shared = rng.random((4, 28))
    return shared + 0.8 * rng.random((5, 4, 28))  # 5 subjects, 4 time points, 8 images


def test_time_resolved_bounds_follow_the_definition(subject_rdms):
    lower, upper = noise_ceiling(subject_rdms)
    assert lower.shape == upper.shape == (4,)
    for t in range(4):
        rdms = subject_rdms[:, t]
        expected_lower = np.mean([spearmanr(rdms[s], np.delete(rdms, s, 0).mean(0))[0] for s in range(5)])
        expected_upper = np.mean([spearmanr(rdms[s], rdms.mean(0))[0] for s in range(5)])
        assert lower[t] == pytest.approx(expected_lower, abs=1e-12)
        assert upper[t] == pytest.approx(expected_upper, abs=1e-12)
    assert np.all(lower < upper)


def test_pearson_and_single_set(subject_rdms):
    rdms = subject_rdms[:, 0]
    lower, upper = noise_ceiling(rdms, method="pearson")
    assert np.ndim(lower) == 0
    expected = np.mean([pearsonr(rdms[s], np.delete(rdms, s, 0).mean(0))[0] for s in range(5)])
    assert float(lower) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("ours, theirs", [("spearman", "spearman"), ("pearson", "corr"), ("kendall_tau_a", "tau-a")])
def test_rsatoolbox_pooling_equals_boot_noise_ceiling(subject_rdms, ours, theirs):
    rdms = subject_rdms[:, 1]
    expected = boot_noise_ceiling(rsatoolbox.rdm.RDMs(rdms), method=theirs)
    ours_bounds = noise_ceiling(rdms, method=ours, pooling="rsatoolbox")
    np.testing.assert_allclose(ours_bounds, expected, atol=1e-12)


def test_noise_ceiling_errors(subject_rdms):
    with pytest.raises(ValueError, match="1 subject; a noise ceiling needs at least 2"):
        noise_ceiling(subject_rdms[:1])
    with pytest.raises(ValueError, match="unknown pooling 'median'"):
        noise_ceiling(subject_rdms, pooling="median")
    with pytest.raises(ValueError, match="unknown method 'cosine'"):
        noise_ceiling(subject_rdms, method="cosine")
    with pytest.raises(ValueError, match=r"subject_rdms must be 2-D or 3-D"):
        noise_ceiling(subject_rdms[0, 0])
    with pytest.raises(ValueError, match="27 entries per RDM"):
        noise_ceiling(subject_rdms[..., :27])
    bad = subject_rdms.copy()
    bad[2, 1, 3] = np.inf
    with pytest.raises(ValueError, match=r"non-finite.*\(2, 1, 3\)"):
        noise_ceiling(bad)
