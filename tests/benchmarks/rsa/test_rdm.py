"""RDMs: model RDMs against numpy's Pearson, EEG RDMs against rsatoolbox calc_rdm_movie."""
from __future__ import annotations

import numpy as np
import pytest
from rsatoolbox.data import TemporalDataset
from rsatoolbox.rdm import calc_rdm_movie
from scipy.spatial.distance import squareform

from benchmarks.rsa import (
    correlation_rdms,
    crossnobis_rdms,
    euclidean_rdms,
    model_rdm,
    model_rdms,
    pair_indices,
    to_matrix,
)


def rsatoolbox_movie(data: np.ndarray, method: str, **options) -> np.ndarray:
    n_images, n_reps, n_channels, n_times = data.shape
    dataset = TemporalDataset(
        data.reshape(n_images * n_reps, n_channels, n_times),
        obs_descriptors={"image": np.repeat(np.arange(n_images), n_reps), "rep": np.tile(np.arange(n_reps), n_images)},
        time_descriptors={"time": np.arange(n_times)},
    )
    return calc_rdm_movie(dataset, method=method, descriptor="image", **options).get_vectors()


def test_model_rdm_is_one_minus_pearson_in_squareform_order():
    features = np.random.default_rng(0).normal(size=(7, 50))
    expected = squareform(1 - np.corrcoef(features), checks=False)
    np.testing.assert_allclose(model_rdm(features), expected, atol=1e-12)
    np.testing.assert_allclose(model_rdm(features.astype(np.float32)), expected, atol=1e-6)


def test_model_rdm_chunks_features_without_changing_the_result(monkeypatch):
    features = np.random.default_rng(1).normal(size=(5, 30))
    whole = model_rdm(features)
    monkeypatch.setattr("benchmarks.rsa.rdm._FEATURE_CHUNK", 7)
    np.testing.assert_allclose(model_rdm(features), whole, atol=1e-13)


def test_model_rdms_batches_layers_of_different_sizes():
    rng = np.random.default_rng(2)
    layers = [rng.normal(size=(6, 40)), rng.normal(size=(6, 9))]
    stacked = model_rdms(layers)
    assert stacked.shape == (2, 15)
    np.testing.assert_allclose(stacked[1], model_rdm(layers[1]))
    np.testing.assert_allclose(model_rdms(np.stack([layers[0], layers[0]]))[1], model_rdm(layers[0]))


def test_to_matrix_and_pair_indices_round_trip():
    vector = np.arange(10, dtype=float)
    square = to_matrix(vector)
    np.testing.assert_array_equal(square, squareform(vector))
    rows, cols = pair_indices(5)
    np.testing.assert_array_equal(square[rows, cols], vector)
    assert to_matrix(np.stack([vector, vector])).shape == (2, 5, 5)


@pytest.mark.parametrize("method, function", [("correlation", correlation_rdms), ("euclidean", euclidean_rdms)])
def test_distance_rdms_match_rsatoolbox(small_eeg, method, function):
    ours = function(small_eeg)
    assert ours.shape == (small_eeg.shape[3], 10)
    np.testing.assert_allclose(ours, rsatoolbox_movie(small_eeg, method), rtol=1e-10, atol=1e-12)


def test_crossnobis_matches_rsatoolbox_leave_one_repetition_out(small_eeg):
    expected = rsatoolbox_movie(small_eeg, "crossnobis", cv_descriptor="rep")
    np.testing.assert_allclose(crossnobis_rdms(small_eeg), expected, rtol=1e-8, atol=1e-10)


def test_crossnobis_with_a_noise_precision_matches_rsatoolbox(small_eeg):
    rng = np.random.default_rng(3)
    factor = rng.normal(size=(6, 6))
    precision = factor @ factor.T + np.eye(6)
    expected = rsatoolbox_movie(small_eeg, "crossnobis", cv_descriptor="rep", noise=precision)
    np.testing.assert_allclose(crossnobis_rdms(small_eeg, precision), expected, rtol=1e-8, atol=1e-10)
    per_time = np.broadcast_to(precision, (small_eeg.shape[3], 6, 6))
    np.testing.assert_allclose(crossnobis_rdms(small_eeg, per_time), expected, rtol=1e-8, atol=1e-10)


def test_crossnobis_is_unbiased_where_there_is_no_signal():
    noise_only = np.random.default_rng(4).normal(size=(6, 40, 5, 1))
    distances = crossnobis_rdms(noise_only)
    assert abs(distances.mean()) < 0.05  # a plain Euclidean distance would be ~2 / 40 * 5 / 5 biased upwards
    assert euclidean_rdms(noise_only).mean() > 0.04


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: model_rdm(np.ones((3, 4, 5))), ValueError, r"features must be 2-D \(n_images, n_features\)"),
        (lambda: model_rdm(np.ones((1, 4))), ValueError, "features has 1 image"),
        (lambda: model_rdm(np.ones((3, 1))), ValueError, "1 feature"),
        (lambda: model_rdm(np.array([[1.0, np.nan], [1, 2], [3, 1]])), ValueError, r"NaN or inf.*index \(0, 1\)"),
        (lambda: model_rdm(np.array([[1.0, 1.0], [1, 2], [3, 1]])), ValueError, r"image\(s\) \[0\] are constant"),
        (lambda: model_rdm(np.array([["a", "b"], ["c", "d"]])), TypeError, "numeric array"),
        (lambda: model_rdms([np.eye(3), np.ones((3, 2))]), ValueError, r"layer 1: features of image\(s\) \[0, 1, 2\]"),
        (lambda: model_rdms([np.eye(3), np.eye(4)]), ValueError, "different numbers of images"),
        (lambda: model_rdms([]), ValueError, "layer_features is empty"),
        (lambda: model_rdms(np.ones((3, 4))), ValueError, "3-D"),
        (lambda: to_matrix(np.ones(4)), ValueError, "not n\\*\\(n-1\\)/2"),
    ],
)
def test_model_rdm_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("function", [correlation_rdms, euclidean_rdms, crossnobis_rdms])
def test_eeg_rdm_errors_name_the_problem(function, small_eeg):
    with pytest.raises(ValueError, match=r"data must be 4-D \(n_images, n_repetitions, n_channels, n_times\)"):
        function(small_eeg[0])
    with pytest.raises(ValueError, match="at least 2"):
        function(small_eeg[:1])
    bad = small_eeg.copy()
    bad[2, 3, 1, 4] = np.nan
    with pytest.raises(ValueError, match=r"data contains 1 non-finite.*index \(2, 3, 1, 4\)"):
        function(bad)
    bad[2, 3, 1, 4] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        function(bad)


def test_crossnobis_needs_two_repetitions_and_a_valid_precision(small_eeg):
    with pytest.raises(ValueError, match="1 repetition.*at least 2"):
        crossnobis_rdms(small_eeg[:, :1])
    with pytest.raises(ValueError, match=r"noise_precision has shape \(5, 5\)"):
        crossnobis_rdms(small_eeg, np.eye(5))
    with pytest.raises(ValueError, match="symmetric"):
        crossnobis_rdms(small_eeg, np.eye(6) + np.triu(np.ones((6, 6)), 1))
    with pytest.raises(ValueError, match="positive semi-definite"):
        crossnobis_rdms(small_eeg, -np.eye(6))


def test_correlation_rdm_of_a_flat_pattern_is_nan_as_in_rsatoolbox(small_eeg):
    """A pattern constant across channels has no correlation: its pairs at that time are NaN (rsatoolbox gives the
    same NaN), every other entry is unchanged."""
    flat = small_eeg.copy()
    flat[1, :, :, 2] = 3.0
    ours = correlation_rdms(flat)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = rsatoolbox_movie(flat, "correlation")
    rows, cols = np.triu_indices(flat.shape[0], k=1)
    involved = (rows == 1) | (cols == 1)
    assert np.isnan(ours[2, involved]).all() and np.isfinite(ours[2, ~involved]).all()
    assert np.isfinite(np.delete(ours, 2, axis=0)).all()
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="1 channel"):
        correlation_rdms(small_eeg[:, :, :1])
