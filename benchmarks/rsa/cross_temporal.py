"""Cross-temporal RSA: every model RDM (e.g. each recurrent step of each block) against the EEG RDM at every time
point, and cluster permutation tests over the resulting (step, time) matrices.

Similarity: ``model_rdms (n_steps, n_pairs)`` x ``eeg_rdms (n_subjects, n_times, n_pairs)`` ->
``(n_subjects, n_steps, n_times)``; entry ``[s, k, t]`` = ``compare(model_rdms[k], eeg_rdms[s, t], method)``
(Spearman by default, as :func:`benchmarks.rsa.compare.compare`). ``model_rdms`` may also be one set per subject
``(n_subjects, n_steps, n_pairs)``.

Clusters (:func:`cross_temporal_cluster_test`). The choice made here, and why:

- Clusters are runs of consecutive supra-threshold **time** points within one row (one step). Neighbouring steps are
  not joined. A 2-D lattice cluster over (step, time), as used for train-time x test-time generalisation matrices,
  would merge the rows of a block (2-4 recurrent steps) into one cluster whenever they share a latency, and so hide
  exactly what the analysis asks: *which* step matches *which* EEG times (does a later step peak later?). Rows of
  different blocks (``V2.output-t1`` above ``V4.output-t0``) are not neighbours in any sense either.
- With ``family='matrix'`` (default) the null distribution is the largest cluster mass over the **whole matrix**
  (every row) of each sign-flip permutation, the observed maximum first. Each cluster's p is its mass against that
  one distribution, so the family-wise error is controlled over all steps and times together. This equals MNE's
  ``permutation_cluster_1samp_test`` on ``(n_subjects, n_times, n_steps)`` with an adjacency that links no two
  steps (time neighbours only), to the last bit for the same seed.
- ``family='step'``: each row is tested on its own (:func:`benchmarks.rsa.stats.cluster_permutation_test` per row,
  the same sign patterns for every row); family-wise error per step only. Offered for comparison with per-layer
  time courses; not the default because a matrix of 9 CORnet-S steps would then have 9 uncorrected families.

Statistics per cell: one-sample t over subjects, cluster-forming threshold from the t distribution at
``p_threshold`` (halved per tail when two-sided), cluster mass = sum of t, as the 1-D test. Undefined cells
(``undefined='nan'``: a subject's value is NaN, e.g. an undefined EEG RDM at that time, or all subjects are equal)
have NaN t, join no cluster and split clusters around them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as scipy_stats

from benchmarks.rsa._validation import (
    as_float_array,
    check_choice,
    check_positive_int,
    check_probability,
    n_images_of,
)
from benchmarks.rsa.compare import METHODS, UNDEFINED, RankedRDMs, compare
from benchmarks.rsa.stats import (
    TAILS,
    _max_cluster_masses,
    _sign_patterns,
    _t_statistics,
    cluster_permutation_test,
    subject_values,
)

FAMILIES = ("matrix", "step")


@dataclass(frozen=True)
class CrossTemporalClusters:
    """Outcome of a cluster permutation test over a (step, time) matrix.

    t_values ``(n_steps, n_times)`` (NaN at undefined cells); threshold: the cluster-forming |t|; clusters: one
    ``(step index, time indices)`` per cluster (positive clusters first, then negative; each sign by step, then
    time); cluster_masses / cluster_p_values ``(n_clusters,)``; null_distributions: one array per family (one for
    ``'matrix'``, one per step for ``'step'``; the observed maximum first; empty where a family has no cluster);
    exact: all sign patterns were enumerated.
    """

    t_values: np.ndarray
    threshold: float
    clusters: list[tuple[int, np.ndarray]]
    cluster_masses: np.ndarray
    cluster_p_values: np.ndarray
    null_distributions: tuple[np.ndarray, ...]
    exact: bool
    tail: str
    family: str

    def significant_mask(self, alpha: float = 0.05) -> np.ndarray:
        """``(n_steps, n_times)`` bool: cells inside a cluster with p < alpha."""
        mask = np.zeros(self.t_values.shape, dtype=bool)
        for (step, times), p_value in zip(self.clusters, self.cluster_p_values):
            if p_value < alpha:
                mask[step, times] = True
        return mask


@dataclass(frozen=True)
class CrossTemporalResult:
    """similarity ``(n_subjects, n_steps, n_times)``; clusters: the test of similarity (None when not run: fewer
    than 2 subjects or ``n_permutations=0``)."""

    similarity: np.ndarray
    clusters: CrossTemporalClusters | None


def cross_temporal_similarity(model_rdms: ArrayLike, eeg_rdms: ArrayLike | RankedRDMs, method: str = "spearman", *,
                              undefined: str = "raise", model_ids: Sequence[str] | None = None) -> np.ndarray:
    """Similarity of every model RDM with the EEG RDM of every subject and time point.

    model_rdms: ``(n_steps, n_pairs)`` shared by all subjects, or ``(n_subjects, n_steps, n_pairs)`` one set per
    subject; eeg_rdms: ``(n_subjects, n_times, n_pairs)`` array or 3-D :class:`RankedRDMs` prepared for ``method``
    (its ranks are reused); method as :func:`~benchmarks.rsa.compare.compare`; undefined: ``'raise'`` or ``'nan'``
    (an undefined EEG RDM gives NaN at its cells; an undefined model RDM is always an error naming its row).
    model_ids: the stimulus id of each model RDM row (pair order as scipy ``squareform``); checked against the EEG
    RDMs' own ids (a :class:`RankedRDMs` carrying ``stimulus_ids``) at the comparison: a different order is a
    ``ValueError`` (:func:`~benchmarks.rsa.compare.check_stimulus_order`), never compared.
    Returns ``(n_subjects, n_steps, n_times)`` float64.
    """
    check_choice(method, "method", METHODS)
    check_choice(undefined, "undefined", UNDEFINED)
    if isinstance(eeg_rdms, RankedRDMs):
        if len(eeg_rdms.shape) != 3:
            raise ValueError(f"eeg_rdms is a RankedRDMs of shape {eeg_rdms.shape}; expected 3-D "
                             "(n_subjects, n_times, n_pairs)")
        eeg = eeg_rdms
    else:
        array = as_float_array(eeg_rdms, "eeg_rdms", 3, "(n_subjects, n_times, n_pairs)", finite=False)
        eeg = RankedRDMs(array, method, undefined=undefined, name="eeg_rdms")
    n_subjects, _, n_pairs = eeg.shape
    models = as_float_array(model_rdms, "model_rdms", (2, 3), "(n_steps, n_pairs) or (n_subjects, n_steps, n_pairs)")
    n_images_of(models, "model_rdms")
    if models.shape[-1] != n_pairs:
        raise ValueError(f"model_rdms has {models.shape[-1]} pairs per RDM but eeg_rdms has {n_pairs}; both must "
                         "cover the same images in the same order")
    if models.ndim == 3 and models.shape[0] != n_subjects:
        raise ValueError(f"model_rdms has {models.shape[0]} subject sets (shape {models.shape}) but eeg_rdms has "
                         f"{n_subjects} subjects")
    sets = models if models.ndim == 3 else models[None]
    # an undefined (constant) model RDM raises here, naming its row
    ranked = [RankedRDMs(one, method, name="model_rdms" + (f"[{i}]" if models.ndim == 3 else ""),
                         stimulus_ids=model_ids) for i, one in enumerate(sets)]
    return np.stack([compare(ranked[s if models.ndim == 3 else 0], eeg[s], method, undefined=undefined)
                     for s in range(n_subjects)])  # (n_subjects, n_steps, n_times)


def _row_clusters(t_values: np.ndarray, threshold: float, code: int) -> list[tuple[int, int, int, float]]:
    """``(sign, step, start, stop)`` runs of supra-threshold t in each row, positive clusters first."""
    found = []
    for sign in (1, -1):
        if (sign == 1 and code == -1) or (sign == -1 and code == 1):
            continue
        for step, row in enumerate(t_values):
            edges = np.flatnonzero(np.diff(np.concatenate([[0], (row * sign > threshold).astype(np.int8), [0]])))
            found.extend((sign, step, int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]))
    return found


def _p_values(null: np.ndarray, masses: np.ndarray, code: int) -> np.ndarray:
    if code == 1:
        return np.array([np.mean(null >= mass) for mass in masses])
    if code == -1:
        return np.array([np.mean(null <= mass) for mass in masses])
    return np.array([np.mean(np.abs(null) >= abs(mass)) for mass in masses])


def cross_temporal_cluster_test(
    x: ArrayLike,
    *,
    tail: str = "greater",
    p_threshold: float = 0.05,
    n_permutations: int = 1000,
    seed: int | None = 0,
    family: str = "matrix",
    undefined: str = "raise",
) -> CrossTemporalClusters:
    """Sign-flip cluster permutation test of ``x > 0`` (or two-sided, or ``< 0``) over a (step, time) matrix.

    x: ``(n_subjects, n_steps, n_times)`` (e.g. :func:`cross_temporal_similarity`); tail: ``'greater'``,
    ``'two-sided'`` or ``'less'``; p_threshold: cluster-forming p (per tail); n_permutations counts the identity
    (as MNE); seed: the sign patterns (the same draw as :func:`~benchmarks.rsa.stats.cluster_permutation_test`);
    family: ``'matrix'`` (one null over every step) or ``'step'`` (one per step): see the module docstring;
    undefined: ``'raise'`` or ``'nan'``. Raises ``ValueError`` for fewer than 2 subjects, infinite values, an
    undefined cell under ``'raise'``, or an unknown option.
    """
    code = TAILS[check_choice(tail, "tail", tuple(TAILS))]
    check_choice(family, "family", FAMILIES)
    check_choice(undefined, "undefined", UNDEFINED)
    x = subject_values(x, "(n_subjects, n_steps, n_times)", undefined, "cells")
    n_subjects = x.shape[0]
    p_threshold = check_probability(p_threshold, "p_threshold")
    n_permutations = check_positive_int(n_permutations, "n_permutations", minimum=2)
    if family == "step":
        rows = [cluster_permutation_test(x[:, k], tail=tail, p_threshold=p_threshold, n_permutations=n_permutations,
                                         seed=seed, undefined=undefined) for k in range(x.shape[1])]
        order = [(sign, k, i) for sign in (1, -1) for k, row in enumerate(rows) for i, c in enumerate(row.clusters)
                 if np.sign(row.cluster_masses[i]) == sign]
        return CrossTemporalClusters(
            np.stack([row.t_values for row in rows]), rows[0].threshold,
            [(k, rows[k].clusters[i]) for _, k, i in order],
            np.array([rows[k].cluster_masses[i] for _, k, i in order]),
            np.array([rows[k].cluster_p_values[i] for _, k, i in order]),
            tuple(row.null_distribution for row in rows), rows[0].exact, tail, family)
    missing = np.isnan(x)
    filled = np.where(missing, 0.0, x)
    flat = filled.max(axis=0) == filled.min(axis=0)  # (n_steps, n_times): no t value
    undefined_cells = flat | missing.any(axis=0)
    if undefined_cells.any():
        if undefined == "raise":
            step, time = (int(i) for i in np.argwhere(flat)[0])
            raise ValueError(f"x is identical across subjects at step {step}, time index {time}; its t value is "
                             "undefined")
        x[:, undefined_cells] = np.nan
    threshold = float(-scipy_stats.t.ppf(p_threshold / (1 + (code == 0)), n_subjects - 1))
    t_values = _t_statistics(x.transpose(1, 0, 2))  # (n_steps, n_times)
    found = _row_clusters(t_values, threshold, code)
    clusters = [(step, np.arange(start, stop)) for _, step, start, stop in found]
    masses = np.array([float(t_values[step, start:stop].sum()) for _, step, start, stop in found])
    patterns, exact = _sign_patterns(n_subjects, n_permutations, code, seed)
    if not clusters:
        return CrossTemporalClusters(t_values, threshold, [], masses, np.array([]), (np.array([]),), exact, tail,
                                     family)
    null = np.empty(len(patterns) + 1)
    null[0] = {1: masses.max(), -1: masses.min(), 0: masses[np.argmax(np.abs(masses))]}[code]
    by_step = x.transpose(1, 0, 2)  # (n_steps, n_subjects, n_times)
    block = max(1, 2_000_000 // max(1, x.size))
    for start in range(0, len(patterns), block):
        flips = patterns[start:start + block]  # (B, n_subjects)
        t_perm = _t_statistics(flips[:, None, :, None] * by_step[None])  # (B, n_steps, n_times)
        best = _max_cluster_masses(t_perm.reshape(-1, t_perm.shape[-1]), threshold, code).reshape(len(flips), -1)
        if code == 1:
            null[1 + start:1 + start + len(flips)] = best.max(axis=1)
        elif code == -1:
            null[1 + start:1 + start + len(flips)] = best.min(axis=1)
        else:
            null[1 + start:1 + start + len(flips)] = best[np.arange(len(best)), np.abs(best).argmax(axis=1)]
    return CrossTemporalClusters(t_values, threshold, clusters, masses, _p_values(null, masses, code), (null,),
                                 exact, tail, family)


def cross_temporal_rsa(model_rdms: ArrayLike, eeg_rdms: ArrayLike | RankedRDMs, method: str = "spearman", *,
                       n_permutations: int = 1000,
                       tail: str = "greater", p_threshold: float = 0.05, seed: int | None = 0,
                       family: str = "matrix", undefined: str = "raise") -> CrossTemporalResult:
    """:func:`cross_temporal_similarity` and, with >= 2 subjects and ``n_permutations`` > 0, its
    :func:`cross_temporal_cluster_test` (options as there). Shapes as :func:`cross_temporal_similarity`."""
    check_choice(family, "family", FAMILIES)
    check_choice(tail, "tail", tuple(TAILS))
    check_probability(p_threshold, "p_threshold")
    if n_permutations != 0:
        check_positive_int(n_permutations, "n_permutations", minimum=2)
    similarity = cross_temporal_similarity(model_rdms, eeg_rdms, method, undefined=undefined)
    if similarity.shape[0] < 2 or n_permutations == 0:
        return CrossTemporalResult(similarity, None)
    clusters = cross_temporal_cluster_test(similarity, tail=tail, p_threshold=p_threshold,
                                           n_permutations=n_permutations, seed=seed, family=family,
                                           undefined=undefined)
    return CrossTemporalResult(similarity, clusters)
