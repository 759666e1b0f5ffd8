"""Similarity between condensed RDMs: Spearman, Pearson (one matrix product after ranking / standardising) and
Kendall's tau-a (rsatoolbox's definition, computed pairwise).

Spearman equals ``scipy.stats.spearmanr`` on the vectors (NeuroRA ``rdm_correlation_spearman``) and rsatoolbox
``compare(method='spearman')``; tau-a equals rsatoolbox ``compare(method='tau-a')`` (counted from dense codes with
scipy's discordant-pair count).

Reuse: :class:`RankedRDMs` ranks (standardises / codes) a stack of RDMs once, e.g. a benchmark's EEG RDMs, and every
later comparison against it only prepares the other side and multiplies (its docstring says what each method can
and cannot reuse).

Undefined RDMs: an RDM holding NaN, or a constant one under Spearman / Pearson, has no defined similarity. By
default (``undefined='raise'``) that is an error naming the RDM; with ``undefined='nan'`` every similarity involving
it is NaN and the others are computed as usual (e.g. one EEG time point whose RDM is undefined). Infinite entries
are always an error.

Stimulus order: an RDM's pairs mean nothing without the order of its stimuli. A :class:`RankedRDMs` may carry the
``stimulus_ids`` of its rows (``RankedRDMs(rdms, stimulus_ids=ids)``), and :func:`compare` / :func:`compare_rowwise`
take ``ids_a`` / ``ids_b`` for plain arrays; when both sides name their stimuli, the orders must be equal
(:func:`check_stimulus_order`: a ``ValueError`` naming the first difference), never compared silently. Reorder one
side by id first (:func:`reorder_rdms`).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.stats import kendalltau

try:  # scipy's discordant-pair count (Fenwick tree); the public kendalltau is the fallback
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover - depends on the scipy build
    _kendall_dis = None

from benchmarks.rsa._native import tie_marked_orders
from benchmarks.rsa._validation import (
    as_float_array,
    check_choice,
    check_positive_int,
    n_images_from_pairs,
    n_images_of,
)

METHODS = ("spearman", "pearson", "kendall_tau_a")
UNDEFINED = ("raise", "nan")
StimulusIds = Sequence[str]


def check_stimulus_order(ids_a: StimulusIds | None, ids_b: StimulusIds | None, name_a: str = "rdms_a",
                         name_b: str = "rdms_b") -> None:
    """Raise ``ValueError`` unless the stimulus orders ``ids_a`` and ``ids_b`` are equal (either ``None``: not
    known, nothing to check). The message names both sides, the counts and the first position that differs, or
    the ids only one side has."""
    if ids_a is None or ids_b is None:
        return
    a, b = [str(i) for i in ids_a], [str(i) for i in ids_b]
    if a == b:
        return
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(f"{name_a} ({len(a)} stimuli) and {name_b} ({len(b)} stimuli) are over different stimuli "
                         f"(only in {name_a}: {only_a[:3]}; only in {name_b}: {only_b[:3]}); RDMs must share one "
                         "stimulus set")
    first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    raise ValueError(f"{name_a} and {name_b} order their {len(a)} stimuli differently (position {first}: "
                     f"{a[first]!r} vs {b[first]!r}); reorder one by id first (benchmarks.rsa.compare.reorder_rdms)")


def reorder_rdms(rdms: np.ndarray, ids: StimulusIds, to_ids: StimulusIds) -> np.ndarray:
    """Condensed RDMs ``(..., n_pairs)`` over stimuli ``ids`` -> the same RDMs over ``to_ids`` (a permutation of
    ``ids``; ``ValueError`` otherwise), scipy ``squareform`` pair order on both sides."""
    from benchmarks.rsa.rdm import pair_indices

    ids, to_ids = [str(i) for i in ids], [str(i) for i in to_ids]
    if sorted(ids) != sorted(to_ids) or len(set(ids)) != len(ids):
        check_stimulus_order(ids, to_ids, "the RDMs", "the target order")
        raise ValueError(f"stimulus ids must be unique, got {len(ids) - len(set(ids))} repeated")
    rdms = np.asarray(rdms)
    n = len(ids)
    if rdms.shape[-1] != n * (n - 1) // 2:
        raise ValueError(f"RDMs have {rdms.shape[-1]} pairs but {n} stimulus ids give {n * (n - 1) // 2}")
    position = {sid: i for i, sid in enumerate(ids)}
    order = np.array([position[sid] for sid in to_ids])
    index = np.zeros((n, n), dtype=np.intp)
    rows, cols = pair_indices(n)
    index[rows, cols] = np.arange(len(rows))
    index = index + index.T
    return np.ascontiguousarray(rdms[..., index[order[rows], order[cols]]])


def _as_rdm_stack(rdms, name: str, undefined: str = "raise") -> np.ndarray:
    array = as_float_array(rdms, name, (1, 2), "(n_rdms, n_pairs) or (n_pairs,)", finite=undefined == "raise")
    if undefined == "nan" and np.isinf(array).any():
        bad = tuple(int(i) for i in np.argwhere(np.isinf(array))[0])
        raise ValueError(f"{name} holds infinite values, first at index {bad}; RDM entries must be finite or NaN")
    array = np.atleast_2d(array).astype(np.float64, copy=False)
    n_images_of(array, name)
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


def rank_rdms(rdms: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """Average ranks (1 = smallest, ties share their mean rank) along the last axis, float64, same shape.

    Same values as ``scipy.stats.rankdata(rdms, axis=-1)``: one quicksort per row, ties resolved in vector form.
    ``ValueError`` for NaN (scipy gives NaN ranks; here ranks are never silently made of them).
    Blocks of rows are ranked on ``n_threads`` threads (default: the cores this process may use; numpy releases
    the GIL while sorting and gathering); the result does not depend on the thread count.
    """
    values = np.asarray(rdms, dtype=np.float64)
    if np.isnan(values).any():  # scipy's rankdata gives NaN for such a row; a sort would place NaN last instead
        bad = tuple(int(i) for i in np.argwhere(np.isnan(values))[0])
        raise ValueError(f"rdms holds NaN (first at index {bad}); ranks are undefined there")
    rows = values.reshape(-1, values.shape[-1])
    ranks = np.empty_like(rows)
    starts = range(0, rows.shape[0], _RANK_BLOCK)

    def rank_block(start: int) -> None:
        ranks[start:start + _RANK_BLOCK] = _rank_rows(rows[start:start + _RANK_BLOCK])

    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(len(starts), check_positive_int(n_threads, "n_threads"))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(rank_block, starts))
    else:
        for start in starts:
            rank_block(start)
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
    # each row scaled by the power of two nearest its largest |value| (exact: the result is bit-identical), so the
    # sum of squares neither overflows (|values| ~ 1e155 gave r = 0 before) nor underflows
    exponent = np.frexp(np.where(scale > 0, scale, 1.0))[1]
    centred = np.ldexp(centred, -exponent[..., None], out=centred)
    centred -= centred.mean(axis=-1, keepdims=True)
    norms = np.sqrt(np.einsum("...i,...i->...", centred, centred))
    is_flat = norms <= 1e-12 * np.sqrt(values.shape[-1]) * np.ldexp(np.maximum(scale, 1e-300), -exponent)
    if is_flat.any():
        if undefined == "raise":
            flat = np.argwhere(is_flat)[0]
            raise ValueError(f"{name}[{', '.join(str(i) for i in flat)}] is constant (its spread is below 1e-12 of "
                             "its largest |value|, float64's precision there); its correlation is undefined")
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


def _check_tau_pairs(n_pairs: int, name: str) -> None:
    """tau-a counts pairs of entries: an RDM of one pair (2 images) has none, so its tau-a is 0 / 0."""
    if n_pairs < 2:
        raise ValueError(f"{name} has {n_pairs} pair (2 images); Kendall's tau-a compares pairs of entries and needs "
                         "an RDM of at least 3 images")


def _tau_codes(rdms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, 1-based dense ranks (equal values share a code) ``(n_rdms, n_pairs)`` intp and the number of tied
    pairs ``(n_rdms,)`` int64: what tau-a needs of one RDM whatever it is compared with. NaN rows get stand-ins."""
    rdms = np.where(np.isfinite(rdms), rdms, 0.0)
    order = np.argsort(rdms, axis=1)
    ordered = np.take_along_axis(rdms, order, axis=1)
    new_value = np.ones(rdms.shape, dtype=bool)
    new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    codes = np.empty(rdms.shape, dtype=np.intp)
    np.put_along_axis(codes, order, np.cumsum(new_value, axis=1, dtype=np.intp), axis=1)
    ties = np.empty(rdms.shape[0], dtype=np.int64)
    for row, starts in enumerate(new_value):
        sizes = np.diff(np.append(np.flatnonzero(starts), rdms.shape[1])).astype(np.int64)
        ties[row] = int((sizes * (sizes - 1) // 2).sum())
    return codes, ties


def _discordant_pairs(xs: np.ndarray, ys: np.ndarray) -> int:
    """Pairs i < j with ys[i] > ys[j], for ``xs`` sorted and ``ys`` ascending within equal ``xs`` (1-based codes)."""
    if _kendall_dis is not None:
        return int(_kendall_dis(xs, ys))
    # public fallback: scipy's own count through tau-b (exact integers recovered from it)
    n = xs.size
    total = n * (n - 1) // 2
    x_ties, y_ties = _tied_pairs(xs), _tied_pairs(ys)
    if x_ties == total or y_ties == total:
        return 0
    keys = xs.astype(np.int64) * (int(ys.max()) + 1) + ys
    joint = _tied_pairs(keys)
    tau_b = kendalltau(xs, ys, variant="b").statistic
    con_minus_dis = tau_b * np.sqrt(float(total - x_ties) * float(total - y_ties))
    return int(round((total - x_ties - y_ties + joint - con_minus_dis) / 2))


def _tau_a_codes(x: np.ndarray, x_ties: int, y: np.ndarray, y_ties: int) -> float:
    """Kendall's tau-a from dense codes and tied-pair counts (:func:`_tau_codes`):
    (concordant - discordant) / (n (n - 1) / 2) = (total - x_ties - y_ties + joint_ties - 2 discordant) / total,
    tied pairs counting as neither (scipy's counting; tau-a of a constant RDM is 0, as in rsatoolbox)."""
    n = x.size
    total = n * (n - 1) // 2
    keys = x.astype(np.int64) * (int(y.max()) + 1) + y
    order = np.argsort(keys)
    keys = keys[order]
    boundaries = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    sizes = np.diff(boundaries).astype(np.int64)
    joint_ties = int((sizes * (sizes - 1) // 2).sum())
    discordant = _discordant_pairs(np.ascontiguousarray(x[order]), np.ascontiguousarray(y[order]))
    return float(np.clip((total - x_ties - y_ties + joint_ties - 2 * discordant) / total, -1.0, 1.0))


def _tied_pairs(values: np.ndarray) -> int:
    counts = np.unique(values, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _tau_a_table(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
                 rowwise: bool) -> np.ndarray:
    """tau-a of prepared rows ``(codes, ties, undefined)``: every a with every b ``(k, m)``, or row i with row i."""
    (codes_a, ties_a, bad_a), (codes_b, ties_b, bad_b) = a, b

    def one(i: int, j: int) -> float:
        return np.nan if bad_a[i] or bad_b[j] else _tau_a_codes(codes_a[i], ties_a[i], codes_b[j], ties_b[j])

    if rowwise:
        return np.array([one(i, i) for i in range(len(codes_a))])
    return np.array([[one(i, j) for j in range(len(codes_b))] for i in range(len(codes_a))]).reshape(
        len(codes_a), len(codes_b))


class RankedRDMs:
    """RDMs prepared once for many comparisons, e.g. a benchmark's EEG RDMs against every model, layer and subject
    it scores: pass it to :func:`compare` / :func:`compare_rowwise` (either side) or :func:`bootstrap_similarity`
    in place of the array; results equal those of the array to the last bit.

    rdms: ``(n_pairs,)``, ``(n_rdms, n_pairs)`` or ``(n_subjects, n_times, n_pairs)``; method as :func:`compare`
    (fixed: comparing under another method is an error); undefined: ``'raise'`` (NaN, or a constant row under
    Spearman / Pearson, is an error here) or ``'nan'`` (such rows are kept and give NaN similarities;
    ``undefined_rows`` marks them). Index the leading axes like an array (``ranked[s]``: one subject's
    ``(n_times, n_pairs)``; ``ranked[[0, 2]]``); compare takes 1-D or 2-D ones.

    What is computed once and what each comparison still costs:

    - ``'spearman'``: average ranks (ties as ``scipy.stats.rankdata``), centred and scaled to unit norm per row,
      so Spearman = one matrix product: a comparison ranks only the other side (e.g. 4 model RDMs) and multiplies.
    - ``'pearson'``: rows centred and scaled to unit norm (same reuse).
    - ``'kendall_tau_a'``: tau-a counts the sign agreement of every pair of entries, which no per-RDM ranks
      summarise: the concordant / discordant count needs the two RDMs sorted jointly. Reused: each row's dense
      codes (its distinct values numbered) and its number of tied pairs; per comparison one integer sort of the
      joint codes and one O(n_pairs log n_pairs) discordant count remain (about 2.7x faster than from scratch).
    - image bootstrap (Spearman): each row's sort order with tie marks (:meth:`sort_orders`), made on first use
      and kept for every later model; a resampled image set repeats pairs unevenly, so every resample re-ranks
      every row (weighted ranks, O(n_pairs) from the kept order) and no rank itself is reused.
    """

    def __init__(self, rdms, method: str = "spearman", *, undefined: str = "raise", name: str = "rdms",
                 stimulus_ids: StimulusIds | None = None):
        check_choice(method, "method", METHODS)
        check_choice(undefined, "undefined", UNDEFINED)
        dims = "(n_pairs,), (n_rdms, n_pairs) or (n_subjects, n_times, n_pairs)"
        given = as_float_array(rdms, name, (1, 2, 3), dims, finite=undefined == "raise")
        if np.isinf(given).any():
            bad = tuple(int(i) for i in np.argwhere(np.isinf(given))[0])
            raise ValueError(f"{name} holds infinite values, first at index {bad}; RDM entries must be finite or NaN")
        shape = given.shape
        n_images_of(given, name)
        flat = given.reshape(-1, shape[-1]).astype(np.float64, copy=False)
        if method == "kendall_tau_a":
            _check_tau_pairs(shape[-1], name)
            codes, ties = _tau_codes(flat)
            bad = ~np.isfinite(flat).all(axis=1)
            prepared: tuple = (codes.reshape(shape), ties.reshape(shape[:-1]))
        else:
            unit = _standardised(flat, method, name, "nan")
            bad = ~np.isfinite(unit).all(axis=1)
            if undefined == "raise" and bad.any():  # only constant rows: NaN was rejected above
                where = ", ".join(str(int(i)) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), shape[:-1]))
                raise ValueError(f"{name}[{where}] is constant; its {method} correlation is undefined")
            prepared = (unit.reshape(shape),)
        for part in prepared:
            part.flags.writeable = False  # shared by every comparison and indexed view
        if stimulus_ids is not None:
            stimulus_ids = tuple(str(i) for i in stimulus_ids)
            n_pairs = len(stimulus_ids) * (len(stimulus_ids) - 1) // 2
            if n_pairs != shape[-1]:
                raise ValueError(f"{name}: {len(stimulus_ids)} stimulus ids give {n_pairs} pairs but the RDMs have "
                                 f"{shape[-1]}")
        self._set(method, undefined, name, shape, prepared, bad.reshape(shape[:-1]), self, ())
        self.stimulus_ids: tuple[str, ...] | None = stimulus_ids  # the stimuli of every row, in pair order

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What was prepared, as plain arrays (e.g. for a disk cache; :meth:`from_arrays` rebuilds the object):
        ``'prepared_0'`` (standardised rows float64, or tau-a's dense codes), for tau-a ``'prepared_1'`` (tied
        pair counts), and ``'undefined_rows'`` (bool, the leading shape)."""
        arrays = {f"prepared_{i}": np.asarray(part) for i, part in enumerate(self._prepared)}
        arrays["undefined_rows"] = np.asarray(self.undefined_rows, dtype=bool)
        return arrays

    @classmethod
    def from_arrays(cls, arrays, method: str = "spearman", *, undefined: str = "raise", name: str = "rdms",
                    stimulus_ids: StimulusIds | None = None) -> RankedRDMs:
        """The :class:`RankedRDMs` that :meth:`to_arrays` gave (same values, nothing ranked again).

        Checked before use (``ValueError`` naming ``name`` and what differs): the arrays present, their shapes and
        dtypes, undefined rows all NaN, and for Spearman / Pearson every other row finite with zero mean and unit
        norm (to 1e-9; standardised ranks of the right RDMs cannot be told from others: pass only arrays of the
        same RDMs, e.g. from a content-keyed cache); for tau-a codes >= 1 and tie counts >= 0. The arrays are used
        as they are (not copied) and made read-only."""
        check_choice(method, "method", METHODS)
        check_choice(undefined, "undefined", UNDEFINED)
        names = ["prepared_0", "prepared_1"] if method == "kendall_tau_a" else ["prepared_0"]
        missing = [key for key in (*names, "undefined_rows") if key not in arrays]
        if missing:
            raise ValueError(f"{name}: prepared arrays {missing} missing (have {sorted(arrays)})")
        first, bad = np.asarray(arrays["prepared_0"]), np.asarray(arrays["undefined_rows"])
        if first.ndim not in (1, 2, 3) or bad.dtype != bool or bad.shape != first.shape[:-1]:
            raise ValueError(f"{name}: prepared rows of shape {first.shape} with undefined rows of shape {bad.shape} "
                             f"({bad.dtype}); expected (*lead, n_pairs) and bool (*lead,)")
        n_images_from_pairs(first.shape[-1], name)
        if undefined == "raise" and bad.any():
            raise ValueError(f"{name} holds an undefined row; it was prepared with undefined='nan'")
        if method == "kendall_tau_a":
            ties = np.asarray(arrays["prepared_1"])
            if first.dtype.kind != "i" or ties.dtype != np.int64 or ties.shape != bad.shape:
                raise ValueError(f"{name}: tau-a codes {first.dtype} {first.shape} / tie counts {ties.dtype} "
                                 f"{ties.shape}; expected integer codes and int64 counts of shape {bad.shape}")
            if (first < 1).any() or (ties < 0).any():
                raise ValueError(f"{name}: tau-a codes must be >= 1 and tie counts >= 0")
            prepared: tuple = (np.asarray(first, dtype=np.intp), ties)
        else:
            if first.dtype != np.float64:
                raise ValueError(f"{name}: standardised rows are {first.dtype}; expected float64")
            rows, flags = first.reshape(-1, first.shape[-1]), bad.reshape(-1)
            if not np.isnan(rows[flags]).all() or not np.isfinite(rows[~flags]).all():
                raise ValueError(f"{name}: undefined rows must be NaN and every other row finite")
            defined = rows[~flags]
            if defined.size and (np.abs(defined.mean(axis=1)).max() > 1e-9
                                 or np.abs(np.einsum("ij,ij->i", defined, defined) - 1.0).max() > 1e-9):
                raise ValueError(f"{name}: prepared rows are not standardised (zero mean, unit norm)")
            prepared = (first,)
        for part in prepared:
            part.flags.writeable = False
        if stimulus_ids is not None:
            stimulus_ids = tuple(str(i) for i in stimulus_ids)
            if len(stimulus_ids) * (len(stimulus_ids) - 1) // 2 != first.shape[-1]:
                raise ValueError(f"{name}: {len(stimulus_ids)} stimulus ids do not fit {first.shape[-1]} pairs")
        ranked = object.__new__(cls)
        ranked._set(method, undefined, name, first.shape, prepared, bad, ranked, ())
        ranked.stimulus_ids = stimulus_ids
        return ranked

    def _set(self, method, undefined, name, shape, prepared, bad, root, index) -> None:
        self.stimulus_ids = getattr(root, "stimulus_ids", None)
        self.method, self.undefined, self.name = method, undefined, name
        self.shape: tuple[int, ...] = shape  # (*lead, n_pairs)
        self.undefined_rows = bad  # (*lead,) bool
        self._prepared, self._root, self._index = prepared, root, index
        self._orders: np.ndarray | None = None

    @property
    def values(self) -> np.ndarray:
        """``(*lead, n_pairs)`` float64: each row after a strictly increasing map of the given RDM (standardised
        ranks for Spearman; standardised values, an affine map, for Pearson; dense codes for tau-a), NaN for
        undefined rows. Every result that depends only on the order of a row's entries (and, for ``'pearson'``, on
        its values up to shift and scale) is the same from these values as from the given RDMs. The given array is
        not kept: changing it later changes nothing here."""
        if self.method != "kendall_tau_a":
            return self._prepared[0]
        return np.where(self.undefined_rows[..., None], np.nan, self._prepared[0].astype(np.float64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> RankedRDMs:
        parts = index if isinstance(index, tuple) else (index,)
        if any(part is Ellipsis for part in parts) or len(parts) > len(self.shape) - 1:
            raise IndexError(f"{self.name}: index {index!r} must select along the {len(self.shape) - 1} leading "
                             f"axes of {self.shape}, never along the pairs")
        subset = object.__new__(RankedRDMs)
        prepared = tuple(part[index] for part in self._prepared)
        subset._set(self.method, self.undefined, f"{self.name}[{index!r}]", prepared[0].shape, prepared,
                    self.undefined_rows[index], self._root, self._index + (index,))
        return subset

    def sort_orders(self) -> np.ndarray:
        """Per row, the argsort (uint32, bit 31 set on the last index of each group of equal values) the image
        bootstrap's weighted ranks start from: ``(*lead, n_pairs)``. Computed for the whole stack on first use
        (by this object or any indexed from it) and kept. Undefined rows are sorted as constant stand-ins."""
        if self._root is not self:
            orders = self._root.sort_orders()
            for index in self._index:
                orders = orders[index]
            return orders
        if self._orders is None:
            flat = self.values.reshape(-1, self.shape[-1])
            stand_in = np.where(self.undefined_rows.reshape(-1)[:, None], 0.0, flat)
            self._orders = tie_marked_orders(stand_in).reshape(self.shape)
            self._orders.flags.writeable = False
        return self._orders

    def check_made_from(self, rdms: np.ndarray, name: str = "rdms") -> None:
        """``ValueError`` unless this object could be the preparation of ``rdms`` (same shape and undefined rows,
        and on up to 256 fixed entry pairs per row the same order of entries): a cheap guard, O(n_rdms), that a
        caller passing both did not pair these RDMs with the ranks of others (another subject order, another
        dataset). Prepared values are a non-decreasing map of each row, strictly increasing for ranks and codes."""
        given = np.asarray(rdms, dtype=np.float64)
        if given.shape != tuple(self.shape):
            raise ValueError(f"{self.name} has shape {self.shape} but {name} has {given.shape}; pass the RankedRDMs "
                             f"of these RDMs")
        n_pairs = self.shape[-1]
        flat, values = given.reshape(-1, n_pairs), self.values.reshape(-1, n_pairs)
        undefined = np.asarray(self.undefined_rows).reshape(-1)
        differs = undefined != undefined_rows(flat, self.method)
        rng = np.random.default_rng(0)
        first, second = rng.integers(0, n_pairs, 256), rng.integers(0, n_pairs, 256)
        with np.errstate(invalid="ignore"):
            sign_given = np.sign(flat[:, first] - flat[:, second])
            sign_prepared = np.sign(values[:, first] - values[:, second])
        reversed_ = (sign_given * sign_prepared < 0) | ((sign_given == 0) & (sign_prepared != 0))
        differs |= ~undefined & reversed_.any(axis=1)
        if differs.any():
            where = ", ".join(str(int(i)) for i in np.unravel_index(int(np.flatnonzero(differs)[0]), self.shape[:-1]))
            raise ValueError(f"{self.name} was not prepared from {name}: at [{where}] the order of entries (or "
                             "whether the RDM is defined) differs; pass RankedRDMs(<these RDMs>, ...) made from the "
                             "same array, in the same subject and time order")

    def _rows(self, name: str, undefined: str, method: str) -> tuple:
        """The prepared rows as 2-D stacks for a comparison under ``method`` / ``undefined`` (checked)."""
        if method != self.method:
            raise ValueError(f"{name} was prepared for method {self.method!r} but the comparison uses {method!r}; "
                             f"prepare it with RankedRDMs(..., method={method!r})")
        if len(self.shape) > 2:
            raise ValueError(f"{name} is a RankedRDMs of shape {self.shape}; compare takes (n_rdms, n_pairs): "
                             "index its leading axes first (e.g. ranked[subject])")
        bad = np.atleast_1d(self.undefined_rows)
        if undefined == "raise" and bad.any():
            raise ValueError(f"{name}[{int(np.flatnonzero(bad)[0])}] is undefined (NaN, or constant under "
                             f"{method}); it was prepared with undefined='nan', so compare with undefined='nan'")
        n_pairs = self.shape[-1]
        if method == "kendall_tau_a":
            codes, ties = self._prepared
            return codes.reshape(-1, n_pairs), np.atleast_1d(ties), bad
        return (self._prepared[0].reshape(-1, n_pairs),)


def _check_ids_fit(ids: StimulusIds | None, n_pairs: int, name: str) -> None:
    """``ValueError`` unless ``ids`` (if given) name as many stimuli as RDMs of ``n_pairs`` pairs have."""
    if ids is not None and len(ids) * (len(ids) - 1) // 2 != n_pairs:
        raise ValueError(f"{name} names {len(ids)} stimuli ({len(ids) * (len(ids) - 1) // 2} pairs) but its RDMs have "
                         f"{n_pairs} pairs")


def _ids_of(rdms, given: StimulusIds | None) -> StimulusIds | None:
    """The stimulus order of one side: ``given``, else a :class:`RankedRDMs`' own ``stimulus_ids``."""
    return given if given is not None else getattr(rdms, "stimulus_ids", None)


def _ready(rdms, name: str, method: str, undefined: str) -> tuple:
    """``rdms`` (array or :class:`RankedRDMs`) as prepared 2-D rows: ``(unit,)`` or tau-a's ``(codes, ties, bad)``."""
    if isinstance(rdms, RankedRDMs):
        return rdms._rows(name, undefined, method)
    array = _as_rdm_stack(rdms, name, undefined)
    if method == "kendall_tau_a":
        _check_tau_pairs(array.shape[1], name)
        codes, ties = _tau_codes(array)
        return codes, ties, ~np.isfinite(array).all(axis=1)
    return (_standardised(array, method, name, undefined),)


def compare(rdms_a, rdms_b, method: str = "spearman", *, undefined: str = "raise",
            ids_a: StimulusIds | None = None, ids_b: StimulusIds | None = None) -> np.ndarray:
    """Similarity of every RDM in ``rdms_a`` with every RDM in ``rdms_b``.

    rdms_a: ``(k, n_pairs)`` (or ``(n_pairs,)``), rdms_b: ``(m, n_pairs)``, either also a :class:`RankedRDMs`
    prepared for ``method`` (its ranks are reused); method: ``'spearman'``, ``'pearson'`` or ``'kendall_tau_a'``;
    undefined: ``'raise'`` (an undefined RDM is an error) or ``'nan'`` (its similarities are NaN; module
    docstring); ids_a / ids_b: the stimulus order of each side (default: a :class:`RankedRDMs`' ``stimulus_ids``);
    when both are known they must be equal (:func:`check_stimulus_order`). Returns ``(k, m)`` float64.
    """
    check_choice(method, "method", METHODS)
    check_choice(undefined, "undefined", UNDEFINED)
    check_stimulus_order(_ids_of(rdms_a, ids_a), _ids_of(rdms_b, ids_b), getattr(rdms_a, "name", "rdms_a"),
                         getattr(rdms_b, "name", "rdms_b"))
    a = _ready(rdms_a, "rdms_a", method, undefined)
    b = _ready(rdms_b, "rdms_b", method, undefined)
    _check_ids_fit(ids_a, a[0].shape[1], "ids_a")
    _check_ids_fit(ids_b, b[0].shape[1], "ids_b")
    if a[0].shape[1] != b[0].shape[1]:
        raise ValueError(f"rdms_a has {a[0].shape[1]} pairs per RDM but rdms_b has {b[0].shape[1]}; they must match")
    if method == "kendall_tau_a":
        return _tau_a_table(a, b, rowwise=False)
    return np.clip(a[0] @ b[0].T, -1.0, 1.0)


def compare_rowwise(rdms_a, rdms_b, method: str = "spearman", *, undefined: str = "raise",
                    ids_a: StimulusIds | None = None, ids_b: StimulusIds | None = None) -> np.ndarray:
    """Similarity of ``rdms_a[i]`` with ``rdms_b[i]`` for every i: ``(k, n_pairs)`` x2 -> ``(k,)``; either may be a
    :class:`RankedRDMs`; ``undefined``, ``ids_a`` / ``ids_b`` as :func:`compare`."""
    check_choice(method, "method", METHODS)
    check_choice(undefined, "undefined", UNDEFINED)
    check_stimulus_order(_ids_of(rdms_a, ids_a), _ids_of(rdms_b, ids_b), getattr(rdms_a, "name", "rdms_a"),
                         getattr(rdms_b, "name", "rdms_b"))
    a = _ready(rdms_a, "rdms_a", method, undefined)
    b = _ready(rdms_b, "rdms_b", method, undefined)
    _check_ids_fit(ids_a, a[0].shape[1], "ids_a")
    _check_ids_fit(ids_b, b[0].shape[1], "ids_b")
    if a[0].shape != b[0].shape:
        raise ValueError(f"rdms_a has shape {a[0].shape} but rdms_b has {b[0].shape}; rowwise comparison needs "
                         "equal shapes")
    if method == "kendall_tau_a":
        return _tau_a_table(a, b, rowwise=True)
    return np.clip(np.einsum("ij,ij->i", a[0], b[0]), -1.0, 1.0)
