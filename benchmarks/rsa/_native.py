"""Build and load the C kernels (``_kernels.c``: decoding, bootstrap ranks) with the system C compiler.

Built once per machine and source version.

The shared library is cached under ``cache_dir('kernels')``, keyed by the source hash, the compiler and the CPU, and
written atomically. :func:`native_kernels` returns None (and remembers why in :func:`native_unavailable_reason`)
when no working compiler exists; callers then fall back to the torch backend.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from model_registry.storage.paths import cache_dir

SOURCE = Path(__file__).with_name("_kernels.c")
_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-shared", "-fPIC", "-std=c11"]
_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}
_failure: list[str] = []

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_COMMON = [_PTR, _I64, _I64, _I64, _PTR, _I64, _PTR, _I64, _PTR, _I64, _I64, _I64, _I64]


def _cpu_tag() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build(compiler: str, target: Path) -> None:
    """Compile into a scratch folder beside ``target`` and move the library into place (never half-written).

    Without OpenMP support (e.g. Apple clang) the kernels are built single-threaded.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        partial = Path(scratch) / target.name
        errors = []
        for flags in (_FLAGS, [flag for flag in _FLAGS if flag != "-fopenmp"]):
            result = subprocess.run(
                [compiler, *flags, str(SOURCE), "-o", str(partial), "-lm"], capture_output=True, text=True, timeout=300
            )
            if result.returncode == 0:
                os.replace(partial, target)
                return
            errors.append(result.stderr.strip()[-2000:])
        raise RuntimeError(f"compiling {SOURCE.name} with {compiler} failed:\n{errors[0]}")


def native_kernels() -> ctypes.CDLL | None:
    """The loaded kernel library, compiling it on first use; None when that is impossible here."""
    with _lock:
        if _loaded:
            return next(iter(_loaded.values()))
        if _failure:
            return None
        compiler = _compiler()
        if compiler is None:
            _failure.append("no C compiler (cc, gcc or clang) on PATH")
            return None
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        key = hashlib.sha256(
            SOURCE.read_bytes() + repr((version, _FLAGS, _cpu_tag(), platform.machine())).encode()
        ).hexdigest()[:16]
        target = cache_dir("kernels") / f"rsa_kernels_{key}.so"
        try:
            if not target.is_file():
                _build(compiler, target)
            library = ctypes.CDLL(str(target))
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            _failure.append(str(error))
            return None
        library.svm_pair_accuracies.argtypes = [*_COMMON, ctypes.c_double, _I64, _I64, _PTR]
        library.svm_pair_accuracies.restype = ctypes.c_int
        library.lda_pair_accuracies.argtypes = [*_COMMON, _I64, _PTR]
        library.lda_pair_accuracies.restype = ctypes.c_int
        library.draw_folds.argtypes = [ctypes.c_uint64, _I64, _I64, _I64, _I64, _I64, _I64, _PTR, _I64]
        library.draw_folds.restype = ctypes.c_int
        library.weighted_ranks.argtypes = [_PTR, _I64, _I64, _PTR, _PTR, _PTR, _I64]
        library.weighted_ranks.restype = ctypes.c_int
        library.weighted_rank_products.argtypes = [_PTR, _I64, _I64, _PTR, _PTR, _PTR, _PTR, _I64]
        library.weighted_rank_products.restype = ctypes.c_int
        _loaded[key] = library
        return library


def native_unavailable_reason() -> str | None:
    """Why :func:`native_kernels` returned None, or None if it did not."""
    return _failure[0] if _failure else None


def _common_arguments(data: np.ndarray, pairs: np.ndarray, trial_order: np.ndarray, fold_of: np.ndarray,
                      n_folds: int) -> list:
    """Pointer and size arguments shared by the decoding kernels (the caller keeps the arrays alive)."""
    n_pseudo = fold_of.shape[-1]
    return [
        data.ctypes.data, data.shape[1], data.shape[2], data.shape[3],
        pairs.ctypes.data, pairs.shape[0],
        trial_order.ctypes.data, trial_order.shape[1],
        fold_of.ctypes.data, fold_of.shape[2], n_pseudo, trial_order.shape[3] // n_pseudo, n_folds,
    ]


def _thread_count(n_threads: int | None) -> int:
    """Requested threads, default all cores this process may run on."""
    if n_threads:
        return int(n_threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _prepare(data, pairs, trial_order, fold_of):
    data = np.ascontiguousarray(data, dtype=np.float32)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64)
    trial_order = np.ascontiguousarray(trial_order, dtype=np.int32)
    fold_of = np.ascontiguousarray(fold_of, dtype=np.int8)
    return data, pairs, trial_order, fold_of


def run_svm(library: ctypes.CDLL, data: np.ndarray, pairs: np.ndarray, trial_order: np.ndarray, fold_of: np.ndarray,
            n_folds: int, c_value: float, n_iter: int, n_threads: int | None = None) -> np.ndarray:
    """Accuracies ``(n_pairs, n_times)``; data ``(n_images, n_repetitions, n_times, n_features)``."""
    data, pairs, trial_order, fold_of = _prepare(data, pairs, trial_order, fold_of)
    accuracy = np.zeros((pairs.shape[0], data.shape[2]))
    arguments = _common_arguments(data, pairs, trial_order, fold_of, n_folds)
    status = library.svm_pair_accuracies(
        *arguments, float(c_value), int(n_iter), _thread_count(n_threads), accuracy.ctypes.data
    )
    if status != 0:
        raise MemoryError("the SVM decoding kernel could not allocate its work buffers")
    return accuracy


def run_lda(library: ctypes.CDLL, data: np.ndarray, pairs: np.ndarray, trial_order: np.ndarray, fold_of: np.ndarray,
            n_folds: int, n_threads: int | None = None) -> np.ndarray:
    """Nearest-class-mean accuracies ``(n_pairs, n_times)`` on (already whitened) data."""
    data, pairs, trial_order, fold_of = _prepare(data, pairs, trial_order, fold_of)
    accuracy = np.zeros((pairs.shape[0], data.shape[2]))
    arguments = _common_arguments(data, pairs, trial_order, fold_of, n_folds)
    status = library.lda_pair_accuracies(*arguments, _thread_count(n_threads), accuracy.ctypes.data)
    if status != 0:
        raise MemoryError("the LDA decoding kernel could not allocate its work buffers")
    return accuracy


GROUP_END = np.uint32(0x80000000)


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


def run_weighted_ranks(library: ctypes.CDLL, orders: np.ndarray, weights: np.ndarray,
                       n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted average ranks ``(n_rdms, n_pairs)`` and tie sums ``(n_rdms,)``."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    ranks = np.empty(orders.shape)
    ties = np.empty(orders.shape[0])
    library.weighted_ranks(orders.ctypes.data, orders.shape[0], orders.shape[1], weights.ctypes.data,
                           ranks.ctypes.data, ties.ctypes.data, _thread_count(n_threads))
    return ranks, ties


def run_weighted_rank_products(library: ctypes.CDLL, orders: np.ndarray, set_of_rdm: np.ndarray,
                               weights: np.ndarray, partner: np.ndarray,
                               n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``sum_p R_p partner[set, p, m]`` ``(n_rdms, n_models)`` and tie sums ``(n_rdms,)``.

    R = weighted ranks of each RDM (from ``orders``); partner ``(n_sets, n_pairs, n_models)``.
    """
    set_of_rdm = np.ascontiguousarray(set_of_rdm, dtype=np.int64)
    n_sets, n_pairs, n_models = partner.shape
    cross = np.empty((orders.shape[0], n_models))
    ties = np.empty(orders.shape[0])
    for first in range(0, n_models, 7):
        chunk = partner[:, :, first:first + 7]
        table = np.zeros((n_sets, n_pairs, 8))
        table[:, :, 0] = weights
        table[:, :, 1:1 + chunk.shape[2]] = chunk
        sums = np.empty((orders.shape[0], 8))
        library.weighted_rank_products(
            orders.ctypes.data, orders.shape[0], n_pairs, set_of_rdm.ctypes.data, table.ctypes.data,
            sums.ctypes.data, ties.ctypes.data, _thread_count(n_threads),
        )
        cross[:, first:first + chunk.shape[2]] = sums[:, 1:1 + chunk.shape[2]]
    return cross, ties


def run_draw_folds(library: ctypes.CDLL, seed: int, first_pair: int, n_pairs: int, n_repeats: int, n_fold_times: int,
                   n_pseudo: int, n_folds: int, n_threads: int | None = None) -> np.ndarray:
    """Fold assignments ``(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)`` int8 (see ``draw_folds`` in the C file)."""
    out = np.empty((n_pairs, n_repeats, n_fold_times, 2, n_pseudo), dtype=np.int8)
    library.draw_folds(int(seed) % 2**64, first_pair, n_pairs, n_repeats, n_fold_times, n_pseudo, n_folds,
                       out.ctypes.data, _thread_count(n_threads))
    return out
