"""Similarity between condensed RDMs: Spearman, Pearson (one matrix product after ranking / standardising) and
Kendall's tau-a (rsatoolbox's definition, computed pairwise).

Spearman equals ``scipy.stats.spearmanr`` on the vectors (NeuroRA ``rdm_correlation_spearman``) and rsatoolbox
``compare(method='spearman')``; tau-a equals rsatoolbox ``compare(method='tau-a')``.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau

from benchmarks.rsa._validation import as_float_array, check_choice, n_images_from_pairs

METHODS = ("spearman", "pearson", "kendall_tau_a")


def _as_rdm_stack(rdms, name: str) -> np.ndarray:
    array = as_float_array(rdms, name, (1, 2), "(n_rdms, n_pairs) or (n_pairs,)")
    array = np.atleast_2d(array).astype(np.float64, copy=False)
    n_images_from_pairs(array.shape[1], name)
    return array


_RANK_BLOCK = 32  # rows ranked together (keeps the gathers in cache)


def rank_rdms(rdms: np.ndarray) -> np.ndarray:
    """Average ranks (1 = smallest, ties share their mean rank) along the last axis, float64, same shape.

    Same values as ``scipy.stats.rankdata(rdms, axis=-1)``: one quicksort per row, ties resolved in vector form.
    """
    values = np.asarray(rdms, dtype=np.float64)
    rows = values.reshape(-1, values.shape[-1])
    ranks = np.empty_like(rows)
    for start in range(0, rows.shape[0], _RANK_BLOCK):
        ranks[start:start + _RANK_BLOCK] = _rank_rows(rows[start:start + _RANK_BLOCK])
    return ranks.reshape(values.shape)


def _rank_rows(rows: np.ndarray) -> np.ndarray:
    n = rows.shape[1]
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    positions = np.broadcast_to(np.arange(n, dtype=np.float64), rows.shape)
    starts_group = np.ones(rows.shape, dtype=bool)
    starts_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    if starts_group.all():
        sorted_ranks = positions + 1.0
    else:
        ends_group = np.ones(rows.shape, dtype=bool)
        ends_group[:, :-1] = starts_group[:, 1:]
        first = np.maximum.accumulate(np.where(starts_group, positions, 0.0), axis=1)
        last = np.minimum.accumulate(np.where(ends_group, positions, float(n))[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks = (first + last) / 2.0 + 1.0
    ranks = np.empty_like(rows)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    return ranks


def _unit_rows(values: np.ndarray, name: str, in_place: bool = False) -> np.ndarray:
    """Centre each row and scale it to unit norm; a constant row has no correlation, so it is an error."""
    scale = np.abs(values).max(axis=-1)
    centred = values if in_place else values.copy()
    centred -= centred.mean(axis=-1, keepdims=True)
    norms = np.sqrt(np.einsum("...i,...i->...", centred, centred))
    flat = np.argwhere(norms <= 1e-12 * np.sqrt(values.shape[-1]) * np.maximum(scale, 1e-300))
    if flat.size:
        raise ValueError(f"{name}[{', '.join(str(i) for i in flat[0])}] is constant; its correlation is undefined")
    centred /= norms[..., None]
    return centred


def _standardised(rdms: np.ndarray, method: str, name: str) -> np.ndarray:
    if method == "spearman":
        return _unit_rows(rank_rdms(rdms), name, in_place=True)
    return _unit_rows(rdms, name)


def _tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a: (concordant - discordant) / (n (n - 1) / 2), tied pairs counting as neither."""
    n = x.size
    total = n * (n - 1) // 2
    x_ties = _tied_pairs(x)
    y_ties = _tied_pairs(y)
    if x_ties == total or y_ties == total:
        return 0.0
    tau_b = kendalltau(x, y, variant="b").statistic
    return float(np.clip(tau_b * np.sqrt(float(total - x_ties) * float(total - y_ties)) / total, -1.0, 1.0))


def _tied_pairs(values: np.ndarray) -> int:
    counts = np.unique(values, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def compare(rdms_a, rdms_b, method: str = "spearman") -> np.ndarray:
    """Similarity of every RDM in ``rdms_a`` with every RDM in ``rdms_b``.

    rdms_a: ``(k, n_pairs)`` (or ``(n_pairs,)``), rdms_b: ``(m, n_pairs)``; method: ``'spearman'``, ``'pearson'``
    or ``'kendall_tau_a'``. Returns ``(k, m)`` float64.
    """
    check_choice(method, "method", METHODS)
    a = _as_rdm_stack(rdms_a, "rdms_a")
    b = _as_rdm_stack(rdms_b, "rdms_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"rdms_a has {a.shape[1]} pairs per RDM but rdms_b has {b.shape[1]}; they must match")
    if method == "kendall_tau_a":
        return np.array([[_tau_a(row_a, row_b) for row_b in b] for row_a in a])
    return np.clip(_standardised(a, method, "rdms_a") @ _standardised(b, method, "rdms_b").T, -1.0, 1.0)


def compare_rowwise(rdms_a, rdms_b, method: str = "spearman") -> np.ndarray:
    """Similarity of ``rdms_a[i]`` with ``rdms_b[i]`` for every i: ``(k, n_pairs)`` x2 -> ``(k,)``."""
    check_choice(method, "method", METHODS)
    a = _as_rdm_stack(rdms_a, "rdms_a")
    b = _as_rdm_stack(rdms_b, "rdms_b")
    if a.shape != b.shape:
        raise ValueError(f"rdms_a has shape {a.shape} but rdms_b has {b.shape}; rowwise comparison needs equal shapes")
    if method == "kendall_tau_a":
        return np.array([_tau_a(row_a, row_b) for row_a, row_b in zip(a, b)])
    products = np.einsum("ij,ij->i", _standardised(a, method, "rdms_a"), _standardised(b, method, "rdms_b"))
    return np.clip(products, -1.0, 1.0)
