"""Representational dissimilarity matrices in condensed form (scipy ``squareform`` upper-triangle order).

Model RDMs are 1 - Pearson between image feature vectors. Time-resolved EEG RDMs take one subject's data
``(n_images, n_repetitions, n_channels, n_times)`` and return ``(n_times, n_pairs)`` with
``n_pairs = n_images * (n_images - 1) / 2``; the distance methods match rsatoolbox ``calc_rdm_movie``
(``correlation``, ``euclidean``, ``crossnobis``).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from benchmarks.rsa._validation import (
    as_float_array,
    check_eeg_data,
    check_finite,
    ensure_finite,
    n_images_of,
)

_FEATURE_CHUNK = 8192  # feature columns per Gram-matrix block (bounds float64 working memory)


def pair_indices(n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column image index of every condensed RDM entry, each ``(n_pairs,)`` (``np.triu_indices(n, 1)``)."""
    return np.triu_indices(n_images, k=1)


def to_matrix(rdms: np.ndarray) -> np.ndarray:
    """Condensed ``(..., n_pairs)`` RDMs to symmetric square ``(..., n_images, n_images)`` with a zero diagonal."""
    rdms = as_float_array(rdms, "rdms", (1, 2, 3), "(..., n_pairs)")
    n = n_images_of(rdms, "rdms")
    rows, cols = pair_indices(n)
    square = np.zeros(rdms.shape[:-1] + (n, n), dtype=rdms.dtype)
    square[..., rows, cols] = rdms
    square[..., cols, rows] = rdms
    return square


def model_rdm(features: np.ndarray) -> np.ndarray:
    """1 - Pearson correlation between the feature vectors of every image pair.

    features: ``(n_images, n_features)`` (flattened layer activations). Returns ``(n_pairs,)`` float64.
    """
    features = as_float_array(features, "features", 2, "(n_images, n_features)")
    if features.shape[0] < 2:
        raise ValueError(f"features has {features.shape[0]} image(s); an RDM needs at least 2")
    if features.shape[1] < 2:
        raise ValueError(f"features has {features.shape[1]} feature(s) per image; Pearson needs at least 2")
    n_images = features.shape[0]
    means = features.mean(axis=1, dtype=np.float64)
    gram = np.zeros((n_images, n_images))
    for start in range(0, features.shape[1], _FEATURE_CHUNK):
        block = features[:, start:start + _FEATURE_CHUNK].astype(np.float64) - means[:, None]
        gram += block @ block.T
    norms = np.sqrt(np.diag(gram))
    flat = np.flatnonzero(norms <= 1e-12 * max(float(norms.max()), 1e-300))
    if flat.size:
        raise ValueError(
            f"features of image(s) {flat.tolist()[:10]} are constant across features; "
            "1 - Pearson is undefined for them"
        )
    rows, cols = pair_indices(n_images)
    return 1.0 - gram[rows, cols] / (norms[rows] * norms[cols])


def model_rdms(layer_features: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """:func:`model_rdm` for several layers.

    layer_features: a sequence of ``(n_images, n_features_l)`` arrays (sizes may differ per layer) or one
    ``(n_layers, n_images, n_features)`` array. Returns ``(n_layers, n_pairs)``.
    """
    if isinstance(layer_features, np.ndarray):
        if layer_features.ndim != 3:
            raise ValueError(
                f"layer_features as one array must be 3-D (n_layers, n_images, n_features), "
                f"got shape {layer_features.shape}"
            )
        layers = list(layer_features)
    else:
        layers = list(layer_features)
    if not layers:
        raise ValueError("layer_features is empty; expected at least one (n_images, n_features) array")
    rdms = []
    for index, features in enumerate(layers):
        try:
            rdms.append(model_rdm(features))
        except (ValueError, TypeError) as error:
            raise type(error)(f"layer {index}: {error}") from None
    sizes = {rdm.shape[0] for rdm in rdms}
    if len(sizes) != 1:
        raise ValueError(f"layers have different numbers of images (RDM lengths {sorted(sizes)})")
    return np.stack(rdms)


def _time_major_means(data: np.ndarray) -> np.ndarray:
    """Repetition-averaged patterns ``(n_times, n_images, n_channels)`` float64 (checks ``data`` is finite).

    float64 data is averaged by torch (multi-threaded, about twice numpy's speed on this memory-bound pass).
    """
    if data.dtype == np.float64:
        import torch

        with warnings.catch_warnings():  # a read-only array (e.g. a memory map) is only read here
            warnings.simplefilter("ignore", UserWarning)
            means = torch.from_numpy(data).mean(dim=1).numpy()  # (n_images, n_channels, n_times)
    else:
        means = data.mean(axis=1, dtype=np.float64)
    ensure_finite(means, data, "data")
    return np.ascontiguousarray(means.transpose(2, 0, 1))


def _gram_to_distances(gram: np.ndarray) -> np.ndarray:
    """Per time point, ``G_ii + G_jj - G_ij - G_ji`` for every pair: ``(n_times, n, n)`` -> ``(n_times, n_pairs)``."""
    n = gram.shape[-1]
    rows, cols = pair_indices(n)
    diagonal = np.diagonal(gram, axis1=1, axis2=2)
    return diagonal[:, rows] + diagonal[:, cols] - gram[:, rows, cols] - gram[:, cols, rows]


def correlation_rdms(data: np.ndarray) -> np.ndarray:
    """1 - Pearson over channels of the repetition-averaged patterns, per time point.

    data: ``(n_images, n_repetitions, n_channels, n_times)``. Returns ``(n_times, n_pairs)``.
    Equals rsatoolbox ``calc_rdm_movie(method='correlation')`` with images as pattern descriptor, also where a
    pattern is constant across channels (e.g. a flat EEG sample): its correlations are undefined and the pairs of
    that image at that time point are NaN, as in rsatoolbox (silently here; callers report undefined time points).
    """
    data = check_eeg_data(data, finite=False)
    if data.shape[2] < 2:
        raise ValueError(f"data has {data.shape[2]} channel(s); correlation distance needs at least 2")
    patterns = _time_major_means(data)
    scale = np.abs(patterns).max(axis=2)  # (n_times, n_images)
    patterns -= patterns.mean(axis=2, keepdims=True)
    norms = np.sqrt(np.einsum("tic,tic->ti", patterns, patterns))
    flat = norms <= 1e-12 * np.sqrt(data.shape[2]) * scale  # (n_times, n_images): constant up to rounding
    patterns /= np.where(flat, 1.0, norms)[:, :, None]
    rows, cols = pair_indices(data.shape[0])
    gram = np.matmul(patterns, patterns.transpose(0, 2, 1))
    distances = 1.0 - gram[:, rows, cols]
    if flat.any():
        distances[flat[:, rows] | flat[:, cols]] = np.nan
    return distances


def euclidean_rdms(data: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of the repetition-averaged patterns divided by n_channels, per time point.

    This is rsatoolbox's ``'euclidean'`` measure (``calc_rdm_movie(method='euclidean')``).
    data: ``(n_images, n_repetitions, n_channels, n_times)``. Returns ``(n_times, n_pairs)``.
    """
    data = check_eeg_data(data, finite=False)
    patterns = _time_major_means(data)
    gram = np.matmul(patterns, patterns.transpose(0, 2, 1))
    return _gram_to_distances(gram) / data.shape[2]


def _precision_factors(noise_precision, n_channels: int, n_times: int) -> np.ndarray | None:
    """Factors W with ``W W^T = precision``: ``(n_channels, n_channels)`` or ``(n_times, n_channels, n_channels)``."""
    if noise_precision is None:
        return None
    precision = as_float_array(noise_precision, "noise_precision", (2, 3), "(n_channels, n_channels)")
    expected = [(n_channels, n_channels), (n_times, n_channels, n_channels)]
    if precision.shape not in expected:
        raise ValueError(
            f"noise_precision has shape {precision.shape}; expected {expected[0]} (shared over time) "
            f"or {expected[1]} (one per time point)"
        )
    precision = precision.astype(np.float64)
    asymmetry = np.abs(precision - np.swapaxes(precision, -1, -2)).max()
    if asymmetry > 1e-10 * np.abs(precision).max():
        raise ValueError(f"noise_precision must be symmetric; it differs from its transpose by up to {asymmetry:.3g}")
    eigenvalues, eigenvectors = np.linalg.eigh(precision)
    if eigenvalues.min() < -1e-10 * np.abs(eigenvalues).max():
        raise ValueError(
            f"noise_precision must be positive semi-definite; its smallest eigenvalue is {eigenvalues.min():.3g}"
        )
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))[..., None, :]


def crossnobis_rdms(data: np.ndarray, noise_precision: np.ndarray | None = None) -> np.ndarray:
    """Cross-validated Mahalanobis distance with leave-one-repetition-out folds, per time point.

    For each fold k the training patterns are the mean of the other repetitions and the test patterns repetition
    k; the fold distance is ``(t_i - t_j) P (a_i - a_j)^T / n_channels`` and the RDM the mean over folds, as
    rsatoolbox ``calc_rdm_movie(method='crossnobis', cv_descriptor=<repetition>)``. Summed over folds this is
    ``(S_d P S_d - sum_k A_kd P A_kd) / (R (R - 1))`` (S = sum over repetitions, d = image difference), which is
    what is computed: two symmetric Gram products per time point.

    data: ``(n_images, n_repetitions >= 2, n_channels, n_times)``.
    noise_precision: symmetric positive semi-definite ``(n_channels, n_channels)`` or
    ``(n_times, n_channels, n_channels)``; default identity. Returns ``(n_times, n_pairs)``.
    """
    data = check_eeg_data(data, min_repetitions=2, finite=False)
    n_images, n_reps, n_channels, n_times = data.shape
    factors = _precision_factors(noise_precision, n_channels, n_times)
    gram = np.empty((n_times, n_images, n_images))
    chunk = 8
    for start in range(0, n_times, chunk):
        stop = min(start + chunk, n_times)
        # (t, image, rep, channel) for this block of time points
        trials = np.ascontiguousarray(data[..., start:stop].transpose(3, 0, 1, 2), dtype=np.float64)
        if factors is not None:
            trials = trials @ (factors if factors.ndim == 2 else factors[start:stop, None])
        sums = trials.sum(axis=2)
        ensure_finite(sums, data, "data")
        flat_trials = trials.reshape(stop - start, n_images, -1)
        for offset in range(stop - start):
            gram[start + offset] = sums[offset] @ sums[offset].T - flat_trials[offset] @ flat_trials[offset].T
    return _gram_to_distances(gram) / (n_reps * (n_reps - 1) * n_channels)


def check_rdms(rdms, name: str = "rdms", ndim: int = 2, dims: str = "(n_rdms, n_pairs)") -> np.ndarray:
    """Validate condensed RDMs (last axis = pairs) and return them as float64."""
    array = as_float_array(rdms, name, ndim, dims)
    n_images_of(array, name)
    check_finite(array, name)
    return array.astype(np.float64, copy=False)
