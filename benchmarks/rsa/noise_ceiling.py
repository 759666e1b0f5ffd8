"""Noise ceiling of a group of subject RDMs: how well any model could match the group, given inter-subject noise.

lower bound = mean over subjects of similarity(subject s, pooled RDM of the other subjects) (leave one out);
upper bound = mean over subjects of similarity(subject s, pooled RDM of all subjects).
Pooling is the plain mean of the RDMs (``pooling='mean'``) or rsatoolbox's ``pool_rdm`` (``'rsatoolbox'``: mean of
ranks for Spearman / tau-a, of z-scores for Pearson), with which the single-set result equals rsatoolbox
``boot_noise_ceiling``.

Undefined RDMs (``undefined='nan'``): where any subject's RDM at a time point is undefined (NaN entries, or constant
under Spearman / Pearson), both bounds are NaN at that time point (the pooled RDMs would otherwise mix subjects);
every other time point is computed as usual. With the default ``undefined='raise'`` such an RDM is an error.

Cost (Spearman / Pearson, several time points): every subject RDM is standardised (ranked) once for both bounds,
or not at all when the caller passes its :class:`~benchmarks.rsa.compare.RankedRDMs` (``ranked=``, e.g. a
benchmark's ranked EEG RDMs); the leave-one-out means once per subject and time point, the all-subject mean once
per time point. The results are those of :func:`~benchmarks.rsa.compare.compare_rowwise` on the same rows, to the
last bit.
"""
from __future__ import annotations

import numpy as np

from benchmarks.rsa._validation import as_float_array, check_choice, n_images_of
from benchmarks.rsa.compare import (
    METHODS,
    UNDEFINED,
    RankedRDMs,
    _standardised,
    compare_rowwise,
    rank_rdms,
    undefined_rows,
)

POOLINGS = ("mean", "rsatoolbox")


def _pool_ready(rdms: np.ndarray, method: str, pooling: str) -> np.ndarray:
    """Transform RDMs ``(..., n_subjects, n_pairs)`` so that their plain mean is the pooled RDM."""
    if pooling == "mean":
        return rdms
    if method == "pearson":
        centred = rdms - rdms.mean(axis=-1, keepdims=True)
        return centred / centred.std(axis=-1, keepdims=True)
    return rank_rdms(rdms)


def noise_ceiling(subject_rdms, method: str = "spearman", pooling: str = "mean", *,
                  undefined: str = "raise", ranked: RankedRDMs | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper noise-ceiling bounds.

    subject_rdms: ``(n_subjects, n_times, n_pairs)`` (time-resolved EEG) -> ``(lower (n_times,), upper (n_times,))``,
    or ``(n_subjects, n_pairs)`` (one RDM per subject, e.g. an fMRI ROI) -> two floats.
    Needs at least 2 subjects. undefined: ``'raise'`` or ``'nan'`` (module docstring).
    ranked: optionally ``RankedRDMs(subject_rdms, method, ...)`` made by the caller from these same RDMs (its
    standardised rows are reused instead of ranking the subject RDMs again; Spearman / Pearson with several time
    points). Raises ``ValueError`` when its shape or method differ from ``subject_rdms`` / ``method``, when it was
    not made from these RDMs (:meth:`RankedRDMs.check_made_from`), or, with ``undefined='raise'``, when it marks an
    undefined row.
    """
    check_choice(method, "method", METHODS)
    check_choice(pooling, "pooling", POOLINGS)
    check_choice(undefined, "undefined", UNDEFINED)
    dims = "(n_subjects, n_times, n_pairs) or (n_subjects, n_pairs)"
    rdms = as_float_array(subject_rdms, "subject_rdms", (2, 3), dims, finite=undefined == "raise")
    if np.isinf(rdms).any():
        raise ValueError("subject_rdms holds infinite values; RDM entries must be finite (or NaN where undefined)")
    n_images_of(rdms, "subject_rdms")
    given_shape = rdms.shape
    single = rdms.ndim == 2
    if single:
        rdms = rdms[:, None, :]
    n_subjects = rdms.shape[0]
    if n_subjects < 2:
        raise ValueError(f"subject_rdms has {n_subjects} subject; a noise ceiling needs at least 2")
    rdms = rdms.astype(np.float64).transpose(1, 0, 2)  # (n_times, n_subjects, n_pairs)
    bad_times = np.zeros(rdms.shape[0], dtype=bool)
    if undefined == "nan":
        bad_times = undefined_rows(rdms.reshape(-1, rdms.shape[-1]), method).reshape(rdms.shape[:2]).any(axis=1)
        rdms = np.where(bad_times[:, None, None], 0.0, rdms)  # stand-ins, NaN in the result
    with np.errstate(invalid="ignore", divide="ignore"):  # constant stand-ins under z-scoring: NaN, dropped
        pooled_inputs = _pool_ready(rdms, method, pooling)
    total = pooled_inputs.sum(axis=1, keepdims=True)
    everyone = total / n_subjects  # (n_times, 1, n_pairs)
    # each leave-one-out mean summed directly over the other subjects in order (not total - own: its rounding
    # differs between pairs whose values are equal, and a rank correlation then orders tied pairs by it)
    others = np.zeros_like(pooled_inputs)
    for left_out in range(n_subjects):
        for subject in range(n_subjects):
            if subject != left_out:
                others[:, left_out] += pooled_inputs[:, subject]
    others /= n_subjects - 1
    n_times, _, n_pairs = rdms.shape
    if ranked is not None:
        _check_ranked(ranked, given_shape, method, undefined)
        ranked.check_made_from(subject_rdms, "subject_rdms")
    if method == "kendall_tau_a" or n_times == 1:  # tau-a: no per-row preparation serves two comparisons (see
        # RankedRDMs); one time point (a single set, e.g. an fMRI ROI): nothing worth reusing, compare_rowwise as is
        flat = rdms.reshape(-1, n_pairs)
        lower = compare_rowwise(flat, others.reshape(-1, n_pairs), method, undefined=undefined)
        upper = compare_rowwise(flat, np.broadcast_to(everyone, rdms.shape).reshape(-1, n_pairs), method,
                                undefined=undefined)
    else:  # compare_rowwise's arithmetic, each side standardised once (rows in (time, subject) order)
        if ranked is None:
            units = _standardised(rdms.reshape(-1, n_pairs), method, "rdms_a", undefined)
        else:  # the caller's standardised rows, (subject, time) -> (time, subject) order
            units = np.ascontiguousarray(ranked.values.transpose(1, 0, 2)).reshape(-1, n_pairs)
        del rdms, pooled_inputs  # (each full-size stack freed as soon as it is used: bounded peak memory)
        left_out = _standardised(others.reshape(-1, n_pairs), method, "rdms_b", undefined)
        del others
        lower = np.clip(np.einsum("ij,ij->i", units, left_out), -1.0, 1.0)
        del left_out
        pooled = np.repeat(_standardised(everyone.reshape(-1, n_pairs), method, "rdms_b", undefined), n_subjects,
                           axis=0)
        upper = np.clip(np.einsum("ij,ij->i", units, pooled), -1.0, 1.0)
    lower, upper = (bound.reshape(n_times, n_subjects).mean(axis=1) for bound in (lower, upper))
    lower[bad_times], upper[bad_times] = np.nan, np.nan
    if single:
        return float(lower[0]), float(upper[0])
    return lower, upper


def _check_ranked(ranked: RankedRDMs, shape: tuple, method: str, undefined: str) -> None:
    """``TypeError`` / ``ValueError`` unless ``ranked`` is a :class:`RankedRDMs` of the subject RDMs' ``shape``
    prepared for ``method`` (with ``undefined='raise'``: without undefined rows)."""
    if not isinstance(ranked, RankedRDMs):
        raise TypeError(f"ranked must be a RankedRDMs of the subject RDMs, got {type(ranked).__name__}")
    if ranked.method != method or tuple(ranked.shape) != tuple(shape):
        raise ValueError(f"ranked was prepared for method {ranked.method!r} with shape {ranked.shape}; the noise "
                         f"ceiling needs method {method!r} and the subject RDMs' shape {tuple(shape)}")
    if undefined == "raise" and np.any(ranked.undefined_rows):
        raise ValueError(f"{ranked.name} holds an undefined RDM (NaN, or constant under {method}); pass "
                         "undefined='nan' to leave its time points out")
