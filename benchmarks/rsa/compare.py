"""Similarity between condensed RDMs: Spearman, Pearson (one matrix product after ranking / standardising) and
Kendall's tau-a (rsatoolbox's definition, computed pairwise).

Spearman equals ``scipy.stats.spearmanr`` on the vectors (NeuroRA ``rdm_correlation_spearman``) and rsatoolbox
``compare(method='spearman')``; tau-a equals rsatoolbox ``compare(method='tau-a')``.

Undefined RDMs: an RDM holding NaN, or a constant one under Spearman / Pearson, has no defined similarity. By
default (``undefined='raise'``) that is an error naming the RDM; with ``undefined='nan'`` every similarity involving
it is NaN and the others are computed as usual (e.g. one EEG time point whose RDM is undefined). Infinite entries
are always an error.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau

from benchmarks.rsa._validation import as_float_array, check_choice, n_images_from_pairs

METHODS = ("spearman", "pearson", "kendall_tau_a")
UNDEFINED = ("raise", "nan")


def _as_rdm_stack(rdms, name: str, undefined: str = "raise") -> np.ndarray:
    array = as_float_array(rdms, name, (1, 2), "(n_rdms, n_pairs) or (n_pairs,)", finite=undefined == "raise")
    if undefined == "nan" and np.isinf(array).any():
        bad = tuple(int(i) for i in np.argwhere(np.isinf(array))[0])
        raise ValueError(f"{name} holds infinite values, first at index {bad}; RDM entries must be finite or NaN")
    array = np.atleast_2d(array).astype(np.float64, copy=False)
    n_images_from_pairs(array.shape[1], name)
    return array


def undefined_rows(rdms: np.ndarray, method: str = "spearman") -> np.ndarray:
    """``(n_rdms,)`` bool: RDMs ``(n_rdms, n_pairs)`` whose similarity under ``method`` is undefined (any NaN, or
    constant for Spearman / Pearson; tau-a of a constant RDM is 0, as in rsatoolbox)."""
    rdms = np.atleast_2d(np.asarray(rdms, dtype=np.float64))
    bad = ~np.isfinite(rdms).all(axis=1)
    if method != "kendall_tau_a":
        with np.errstate(invalid="ignore"):
            bad |= np.nanmax(rdms, axis=1, initial=-np.inf) == np.nanmin(rdms, axis=1, initial=np.inf)
    return bad


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


def _unit_rows(values: np.ndarray, name: str, in_place: bool = False, undefined: str = "raise") -> np.ndarray:
    """Centre each row and scale it to unit norm; a constant row has no correlation: an error, or with
    ``undefined='nan'`` a row of NaN."""
    scale = np.abs(values).max(axis=-1)
    centred = values if in_place else values.copy()
    centred -= centred.mean(axis=-1, keepdims=True)
    norms = np.sqrt(np.einsum("...i,...i->...", centred, centred))
    is_flat = norms <= 1e-12 * np.sqrt(values.shape[-1]) * np.maximum(scale, 1e-300)
    if is_flat.any():
        if undefined == "raise":
            flat = np.argwhere(is_flat)[0]
            raise ValueError(f"{name}[{', '.join(str(i) for i in flat)}] is constant; its correlation is undefined")
        norms = np.where(is_flat, np.nan, norms)
    centred /= norms[..., None]
    return centred


def _standardised(rdms: np.ndarray, method: str, name: str, undefined: str = "raise") -> np.ndarray:
    """Rows ranked (Spearman) and scaled to zero mean, unit norm; rows holding NaN become NaN (``'nan'`` mode)."""
    missing = ~np.isfinite(rdms).all(axis=-1)
    if missing.any():  # only in 'nan' mode: stand-in constant rows, made NaN below
        rdms = np.where(missing[:, None], 0.0, rdms)
    if method == "spearman":
        unit = _unit_rows(rank_rdms(rdms), name, in_place=True, undefined=undefined)
    else:
        unit = _unit_rows(rdms, name, undefined=undefined)
    unit[missing] = np.nan
    return unit


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


def _tau_a_or_nan(x: np.ndarray, y: np.ndarray) -> float:
    return np.nan if not (np.isfinite(x).all() and np.isfinite(y).all()) else _tau_a(x, y)


def compare(rdms_a, rdms_b, method: str = "spearman", *, undefined: str = "raise") -> np.ndarray:
    """Similarity of every RDM in ``rdms_a`` with every RDM in ``rdms_b``.

    rdms_a: ``(k, n_pairs)`` (or ``(n_pairs,)``), rdms_b: ``(m, n_pairs)``; method: ``'spearman'``, ``'pearson'``
    or ``'kendall_tau_a'``; undefined: ``'raise'`` (an undefined RDM is an error) or ``'nan'`` (its similarities
    are NaN; module docstring). Returns ``(k, m)`` float64.
    """
    check_choice(method, "method", METHODS)
    check_choice(undefined, "undefined", UNDEFINED)
    a = _as_rdm_stack(rdms_a, "rdms_a", undefined)
    b = _as_rdm_stack(rdms_b, "rdms_b", undefined)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"rdms_a has {a.shape[1]} pairs per RDM but rdms_b has {b.shape[1]}; they must match")
    if method == "kendall_tau_a":
        return np.array([[_tau_a_or_nan(row_a, row_b) for row_b in b] for row_a in a]).reshape(len(a), len(b))
    products = _standardised(a, method, "rdms_a", undefined) @ _standardised(b, method, "rdms_b", undefined).T
    return np.clip(products, -1.0, 1.0)


def compare_rowwise(rdms_a, rdms_b, method: str = "spearman", *, undefined: str = "raise") -> np.ndarray:
    """Similarity of ``rdms_a[i]`` with ``rdms_b[i]`` for every i: ``(k, n_pairs)`` x2 -> ``(k,)``; ``undefined`` as
    :func:`compare`."""
    check_choice(method, "method", METHODS)
    check_choice(undefined, "undefined", UNDEFINED)
    a = _as_rdm_stack(rdms_a, "rdms_a", undefined)
    b = _as_rdm_stack(rdms_b, "rdms_b", undefined)
    if a.shape != b.shape:
        raise ValueError(f"rdms_a has shape {a.shape} but rdms_b has {b.shape}; rowwise comparison needs equal shapes")
    if method == "kendall_tau_a":
        return np.array([_tau_a_or_nan(row_a, row_b) for row_a, row_b in zip(a, b)])
    products = np.einsum("ij,ij->i", _standardised(a, method, "rdms_a", undefined),
                         _standardised(b, method, "rdms_b", undefined))
    return np.clip(products, -1.0, 1.0)
