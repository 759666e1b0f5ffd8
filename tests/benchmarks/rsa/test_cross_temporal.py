"""Cross-temporal RSA: the (subject, step, time) matrix against scipy loops, the cluster test against MNE."""
from __future__ import annotations

import numpy as np
import pytest
from mne.stats import permutation_cluster_1samp_test
from scipy import sparse
from scipy.stats import pearsonr, spearmanr

from benchmarks.rsa import RankedRDMs, cross_temporal_cluster_test, cross_temporal_rsa, cross_temporal_similarity

TAILS = {"greater": 1, "two-sided": 0, "less": -1}


def fixed_rdms(seed: int = 0, n_images: int = 7, n_steps: int = 3, n_subjects: int = 4, n_times: int = 6):
    """Model RDMs (n_steps, n_pairs) and EEG RDMs (n_subjects, n_times, n_pairs); rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    n_pairs = n_images * (n_images - 1) // 2
    models = np.round(rng.uniform(0, 2, size=(n_steps, n_pairs)), 1)
    eeg = np.round(rng.uniform(0.3, 0.9, size=(n_subjects, n_times, n_pairs)), 2)
    return models, eeg


@pytest.mark.parametrize("method, reference", [("spearman", spearmanr), ("pearson", pearsonr)])
def test_matrix_equals_a_scipy_loop(method, reference):
    models, eeg = fixed_rdms()
    ours = cross_temporal_similarity(models, eeg, method)
    expected = np.empty((eeg.shape[0], models.shape[0], eeg.shape[1]))
    for s in range(eeg.shape[0]):
        for k in range(models.shape[0]):
            for t in range(eeg.shape[1]):
                expected[s, k, t] = reference(models[k], eeg[s, t])[0]
    assert ours.shape == (4, 3, 6)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    ranked = cross_temporal_similarity(models, RankedRDMs(eeg, method), method)  # the benchmark's ranks reused
    np.testing.assert_array_equal(ranked, ours)


def test_one_model_set_per_subject_and_a_hand_example():
    models, eeg = fixed_rdms(seed=1, n_subjects=2)
    per_subject = np.stack([models, models[::-1]])  # subject 1 sees the steps in reverse order
    ours = cross_temporal_similarity(per_subject, eeg)
    for k in range(3):
        assert ours[1, k, 2] == pytest.approx(spearmanr(models[2 - k], eeg[1, 2])[0], abs=1e-12)
        assert ours[0, k, 2] == pytest.approx(spearmanr(models[k], eeg[0, 2])[0], abs=1e-12)
    # 3 images: model (1, 2, 3) and EEG (3, 2, 1) are perfectly anti-ranked, (1, 2, 3) perfectly ranked
    hand = cross_temporal_similarity([[1.0, 2.0, 3.0]], [[[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]])
    np.testing.assert_allclose(hand, [[[-1.0, 1.0]]])


def test_undefined_eeg_rdms_give_nan_cells_and_a_constant_model_rdm_is_named():
    models, eeg = fixed_rdms(seed=2)
    eeg[1, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite|undefined|NaN"):
        cross_temporal_similarity(models, eeg)
    ours = cross_temporal_similarity(models, eeg, undefined="nan")
    assert np.isnan(ours[1, :, 3]).all() and np.isfinite(np.delete(ours[1], 3, axis=1)).all()
    assert np.isfinite(ours[[0, 2, 3]]).all()
    models[1] = 0.5
    with pytest.raises(ValueError, match=r"model_rdms\[1\] is constant"):
        cross_temporal_similarity(models, eeg, undefined="nan")
    with pytest.raises(ValueError, match="pairs"):
        cross_temporal_similarity(fixed_rdms(n_images=6)[0], fixed_rdms()[1])


def planted(n_subjects: int, seed: int, n_steps: int = 4, n_times: int = 40) -> np.ndarray:
    """Noise with a positive effect moving later with the step, and one negative effect in step 1."""
    x = np.random.default_rng(seed).normal(size=(n_subjects, n_steps, n_times))
    for k in range(n_steps):
        x[:, k, 5 + 5 * k:12 + 5 * k] += 1.2
    x[:, 1, 30:35] -= 1.2
    return x


@pytest.mark.parametrize("n_subjects, n_permutations, tail", [
    (9, 1000, "greater"),  # 2^9 - 1 < 1000: every sign pattern enumerated
    (9, 1000, "two-sided"),
    (8, 1000, "less"),
    (12, 300, "two-sided"),  # random sign flips: MNE's stream for the same seed
    (24, 100, "greater"),  # MNE's draw for more than 20 subjects
])
def test_matrix_family_is_mne_with_time_only_adjacency(n_subjects, n_permutations, tail):
    x = planted(n_subjects, seed=n_subjects)
    no_step_neighbours = sparse.coo_matrix((x.shape[1], x.shape[1]))  # steps are never adjacent; time is
    t_obs, masks, p_values, null = permutation_cluster_1samp_test(
        x.transpose(0, 2, 1), n_permutations=n_permutations, tail=TAILS[tail], seed=3,
        adjacency=no_step_neighbours, out_type="mask", verbose=False)
    ours = cross_temporal_cluster_test(x, tail=tail, n_permutations=n_permutations, seed=3)
    np.testing.assert_allclose(ours.t_values, t_obs.T, rtol=1e-12)
    theirs = sorted((int(np.argwhere(m.T)[0, 0]), tuple(np.argwhere(m.T)[:, 1].tolist()), float(p))
                    for m, p in zip(masks, p_values))
    assert all(len(set(np.argwhere(m.T)[:, 0])) == 1 for m in masks)  # MNE's clusters stay within one step
    mine = sorted((step, tuple(times.tolist()), float(p)) for (step, times), p in
                  zip(ours.clusters, ours.cluster_p_values))
    assert mine == theirs
    np.testing.assert_allclose(np.sort(ours.null_distributions[0]), np.sort(null), rtol=1e-10, atol=1e-10)
    for (step, times), mass in zip(ours.clusters, ours.cluster_masses):
        assert mass == pytest.approx(t_obs[times, step].sum(), rel=1e-12)
    assert ours.exact == (n_permutations > 2 ** (n_subjects - (tail == "two-sided")) - 1)
    assert len(ours.clusters) >= 4


def test_step_family_is_mne_per_row_and_never_stricter_than_the_matrix():
    x = planted(10, seed=5)
    per_step = cross_temporal_cluster_test(x, n_permutations=500, seed=1, family="step")
    matrix = cross_temporal_cluster_test(x, n_permutations=500, seed=1)
    for k in range(x.shape[1]):
        t_obs, clusters, p_values, _ = permutation_cluster_1samp_test(
            x[:, k], n_permutations=500, tail=1, seed=1, out_type="indices", verbose=False)
        ours = [(c.tolist(), p) for (step, c), p in zip(per_step.clusters, per_step.cluster_p_values) if step == k]
        assert ours == [(c[0].tolist(), p) for c, p in zip(clusters, p_values)]
    assert [(s, c.tolist()) for s, c in per_step.clusters] == [(s, c.tolist()) for s, c in matrix.clusters]
    assert (matrix.cluster_p_values >= per_step.cluster_p_values).all()  # one null over all steps is stricter
    assert (matrix.cluster_p_values > per_step.cluster_p_values).any()
    mask = matrix.significant_mask(0.05)
    for k in range(4):  # the planted effect of each step (5 + 5k ... 11 + 5k), later for later steps
        assert mask[k, 7 + 5 * k:10 + 5 * k].all() and not mask[k, :3].any()
    centres = [np.flatnonzero(mask[k, :28]).mean() for k in range(4)]
    assert np.all(np.diff(centres) > 3)


def test_undefined_cells_split_clusters_and_the_rsa_wrapper():
    x = planted(8, seed=7)
    x[2, 2, 18] = np.nan  # one subject undefined at step 2, time 18 (inside step 2's effect 15..21)
    with pytest.raises(ValueError, match="non-finite"):
        cross_temporal_cluster_test(x)
    result = cross_temporal_cluster_test(x, undefined="nan", n_permutations=200)
    assert np.isnan(result.t_values[2, 18]) and np.isfinite(np.delete(result.t_values[2], 18)).all()
    assert all(18 not in times for step, times in result.clusters if step == 2)
    flat = planted(8, seed=7)
    flat[:, 0, 0] = 0.25
    with pytest.raises(ValueError, match="step 0, time index 0"):
        cross_temporal_cluster_test(flat)
    with pytest.raises(ValueError, match="at least 2"):
        cross_temporal_cluster_test(x[:1], undefined="nan")
    with pytest.raises(ValueError, match="unknown family"):
        cross_temporal_cluster_test(x, family="block", undefined="nan")
    models, eeg = fixed_rdms(seed=3, n_subjects=6)
    both = cross_temporal_rsa(models, eeg, n_permutations=64, seed=0)
    np.testing.assert_array_equal(both.similarity, cross_temporal_similarity(models, eeg))
    expected = cross_temporal_cluster_test(both.similarity, n_permutations=64, seed=0)
    np.testing.assert_array_equal(both.clusters.t_values, expected.t_values)
    assert cross_temporal_rsa(models, eeg[:1]).clusters is None
    assert cross_temporal_rsa(models, eeg, n_permutations=0).clusters is None
