"""Typed entry points of the CPU kernels (pairwise decoding, bootstrap ranks, fold draws), which run under numba.

Why our own kernels: the ReAlnet protocol decodes every image pair of a subject at every time point (THINGS-EEG2:
19,900 pairs x 100 time points x 5 repeats x 4 folds = 40 million SVM fits per subject). libsvm through sklearn or
NeuroRA takes days per subject; these kernels solve 16 fits at once with a fixed-iteration dual solver and take
minutes (targets in ``perf/eeg_rsa.py``: decoding-svm <= 120 s, decoding-lda <= 15 s per subject on 2 cores), with
the equality against sklearn ``SVC`` / LDA and NeuroRA tested in ``tests/benchmarks/rsa/test_decoding.py``.

They are written in Python and compiled by numba (:mod:`benchmarks.rsa._kernels`, a hard dependency): no C
compiler at run time, no fast-math (the same numbers on every x86/ARM machine), compiled on first use and cached on
disk by numba (next to the module, else numba's user cache directory; ``NUMBA_CACHE_DIR`` overrides both). numba is
imported only when a kernel first runs, so ``import benchmarks`` stays cheap. The torch backend
(:mod:`benchmarks.rsa._decoding_torch`) remains for CUDA.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

GROUP_END = np.uint32(0x80000000)


def _kernels():
    """The numba kernel module (imported on first use; compiling each kernel on its first call)."""
    from benchmarks.rsa import _kernels

    return _kernels


def _thread_count(n_threads: int | None) -> int:
    """Requested threads, default all cores this process may run on."""
    if n_threads:
        return int(n_threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def _threads(n_threads: int | None) -> Iterator[None]:
    """Run the enclosed numba parallel loops on ``n_threads`` threads (at most numba's pool size; the setting is
    thread-local in numba, so concurrent callers do not interfere)."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(_thread_count(n_threads), numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _prepare(data, pairs, trial_order, fold_of):
    data = np.ascontiguousarray(data, dtype=np.float32)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64)
    trial_order = np.ascontiguousarray(trial_order, dtype=np.int32)
    fold_of = np.ascontiguousarray(fold_of, dtype=np.int8)
    return data, pairs, trial_order, fold_of


def run_svm(data: np.ndarray, pairs: np.ndarray, trial_order: np.ndarray, fold_of: np.ndarray, n_folds: int,
            c_value: float, n_iter: int, n_threads: int | None = None) -> np.ndarray:
    """Linear C-SVC test accuracies ``(n_pairs, n_times)`` float64, mean over repeats and folds.

    data ``(n_images, n_repetitions, n_times, n_features)`` (computed in float32); pairs ``(n_pairs, 2)``,
    trial_order ``(n_pairs, n_repeats, 2, n_pseudo * navg)``, fold_of ``(n_pairs, n_repeats, n_fold_times, 2,
    n_pseudo)``: a :class:`~benchmarks.rsa.decoding_plan.DecodingPlan`'s arrays. ``n_iter`` FISTA iterations.
    """
    data, pairs, trial_order, fold_of = _prepare(data, pairs, trial_order, fold_of)
    accuracy = np.zeros((pairs.shape[0], data.shape[2]))
    kernels = _kernels()
    with _threads(n_threads):
        kernels.svm_pair_accuracies(data, pairs, trial_order, fold_of, int(n_folds), np.float32(c_value),
                                    int(n_iter), accuracy)
    return accuracy


def run_lda(data: np.ndarray, pairs: np.ndarray, trial_order: np.ndarray, fold_of: np.ndarray, n_folds: int,
            n_threads: int | None = None) -> np.ndarray:
    """Nearest-class-mean accuracies ``(n_pairs, n_times)`` on (already whitened) data; arguments as
    :func:`run_svm`."""
    data, pairs, trial_order, fold_of = _prepare(data, pairs, trial_order, fold_of)
    accuracy = np.zeros((pairs.shape[0], data.shape[2]))
    kernels = _kernels()
    with _threads(n_threads):
        kernels.lda_pair_accuracies(data, pairs, trial_order, fold_of, int(n_folds), accuracy)
    return accuracy


def tie_marked_orders(rdms: np.ndarray) -> np.ndarray:
    """Per row, ``argsort`` as uint32 with bit 31 set on the last index of each group of equal values."""
    rdms = np.asarray(rdms, dtype=np.float64)
    if rdms.shape[1] >= 2**31:
        raise ValueError(f"RDMs with {rdms.shape[1]} pairs are too long for the bootstrap kernel")
    order = np.argsort(rdms, axis=1)
    ordered = np.take_along_axis(rdms, order, axis=1)
    last = np.ones(rdms.shape, dtype=bool)
    last[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    marked = order.astype(np.uint32)
    marked[last] |= GROUP_END
    return np.ascontiguousarray(marked)


def run_weighted_ranks(orders: np.ndarray, weights: np.ndarray,
                       n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted average ranks ``(n_rdms, n_pairs)`` and tie sums ``(n_rdms,)`` (orders from
    :func:`tie_marked_orders`; weights ``(n_pairs,)``: how often each pair is repeated)."""
    orders = np.ascontiguousarray(orders, dtype=np.uint32)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    ranks = np.empty(orders.shape)
    ties = np.empty(orders.shape[0])
    kernels = _kernels()
    with _threads(n_threads):
        kernels.weighted_ranks(orders, weights, ranks, ties)
    return ranks, ties


def run_weighted_rank_products(orders: np.ndarray, set_of_rdm: np.ndarray, weights: np.ndarray,
                               partner: np.ndarray, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``sum_p R_p partner[set, p, m]`` ``(n_rdms, n_models)`` and tie sums ``(n_rdms,)``.

    R = weighted ranks of each RDM (from ``orders``); partner ``(n_sets, n_pairs, n_models)``. The kernel reads
    8-wide table rows ``[w_p, 7 partners]`` (one cache line per random access), so models go 7 at a time.
    """
    orders = np.ascontiguousarray(orders, dtype=np.uint32)
    set_of_rdm = np.ascontiguousarray(set_of_rdm, dtype=np.int64)
    n_sets, n_pairs, n_models = partner.shape
    cross = np.empty((orders.shape[0], n_models))
    ties = np.empty(orders.shape[0])
    kernels = _kernels()
    with _threads(n_threads):
        for first in range(0, n_models, 7):
            chunk = partner[:, :, first:first + 7]
            table = np.zeros((n_sets, n_pairs, 8))
            table[:, :, 0] = weights
            table[:, :, 1:1 + chunk.shape[2]] = chunk
            sums = np.empty((orders.shape[0], 8))
            kernels.weighted_rank_products(orders, set_of_rdm, table, sums, ties)
            cross[:, first:first + chunk.shape[2]] = sums[:, 1:1 + chunk.shape[2]]
    return cross, ties


def run_draw_folds(seed: int, first_pair: int, n_pairs: int, n_repeats: int, n_fold_times: int, n_pseudo: int,
                   n_folds: int, n_threads: int | None = None) -> np.ndarray:
    """Fold assignments ``(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)`` int8 for pairs ``first_pair ...``;
    the generator is described in :func:`benchmarks.rsa._kernels.draw_folds` (seed taken modulo 2**64)."""
    out = np.empty((n_pairs, n_repeats, n_fold_times, 2, n_pseudo), dtype=np.int8)
    kernels = _kernels()
    with _threads(n_threads):
        kernels.draw_folds(np.uint64(int(seed) % 2**64), int(first_pair), int(n_folds), out)
    return out
