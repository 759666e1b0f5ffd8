"""Disk cache of EEG RDMs: computed once per (data content, method, parameters, code version, backend).

Entries live in the checksummed array cache (:mod:`model_registry.storage.array_cache`) under
``$REALNET_HOME/cache/rdms``: written atomically, verified on every read, and a damaged entry is logged, removed and
recomputed. The key holds the EEG file's content hash (``source``), the method, its parameters, any further
``inputs`` the caller names (e.g. channel selection), the method's code version (:data:`RDM_CODE_VERSIONS`) and, for
the decoding methods, the backend they resolve to (numba on the CPU or torch on a device type: their accuracies
differ by up to ~0.02), so the result of one backend is never served to the other.

Caching is optional: on a full disk the computed RDMs are returned anyway, with a warning "no space left under
<cache dir>", and no partial or temporary file is left (see ``ArrayCache.get_or_compute``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model_registry.storage.array_cache import ArrayCache, array_cache_key, file_digest

from .rsa.decoding import resolved_backend

logger = logging.getLogger(__name__)
# One version per EEG RDM method: bump a method's number whenever its numerics change, so that entries computed
# by the old code are never served again. A method missing here cannot be cached (add it first).
RDM_CODE_VERSIONS: dict[str, int] = {
    "correlation": 1,
    "euclidean": 1,
    "crossnobis": 1,
    # 2: the CPU kernels run under numba (backend 'numba', was the C kernel 'native'); 3: the moving average over time
    # sums each window directly (a running-sum difference broke ties and constant RDMs by ~1e-16)
    "decoding-lda": 3,
    "decoding-svm": 3,
}
DECODING_METHODS = ("decoding-lda", "decoding-svm")
_CACHE_KIND = "rdms"
_EXECUTION_PARAMS = ("backend", "device", "n_threads")


def file_fingerprint(path: str | Path) -> str:
    """Content hash of a file: ``'xxh3-128:<hex>:<size>'`` over all its bytes (guards against changed or damaged
    data, not against tampering)."""
    return file_digest(path)


def rdm_backend(method: str, params: Mapping[str, Any]) -> str | None:
    """The backend ``method`` runs with under ``params``: ``'numba'`` / ``'torch-cpu'`` / ``'torch-cuda'`` for
    the decoding methods (resolved as they resolve ``backend``/``device``, ``'auto'`` included), ``None`` for
    the numpy methods."""
    if method not in DECODING_METHODS:
        return None
    return resolved_backend(params.get("backend", "auto"), params.get("device"))


def rdm_cache_parts(source: str, method: str, params: Mapping[str, Any],
                    inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything an EEG RDM stack depends on, as cache-key parts. Raises ``ValueError`` for a method without a
    code version in :data:`RDM_CODE_VERSIONS`."""
    if method not in RDM_CODE_VERSIONS:
        raise ValueError(f"EEG RDM method {method!r} has no code version in benchmarks.rdm_cache.RDM_CODE_VERSIONS "
                         f"(known: {', '.join(sorted(RDM_CODE_VERSIONS))}); add one before caching it")
    backend = rdm_backend(method, params)
    if backend is not None:  # where it runs is named by the resolved backend; threads and device index don't matter
        params = {name: value for name, value in params.items() if name not in _EXECUTION_PARAMS}
    return {"source": source, "method": method, "params": dict(params), "inputs": dict(inputs or {}),
            "code_version": RDM_CODE_VERSIONS[method], "backend": backend}


def rdm_cache_key(source: str, method: str, params: Mapping[str, Any],
                  inputs: Mapping[str, Any] | None = None) -> str:
    """The cache key (sha256 hex) of :func:`cached_rdms` for these arguments."""
    return array_cache_key(rdm_cache_parts(source, method, params, inputs))


def cached_rdms(source: str, method: str, params: dict, compute: Callable[[], np.ndarray],
                enabled: bool = True, *, inputs: Mapping[str, Any] | None = None,
                check: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """``compute()`` once per key (see the module docstring); later calls read the verified cached array.

    source: content hash of the EEG data (:func:`file_fingerprint`); method / params: the EEG RDM method and its
    options; inputs: further key parts the value depends on; check(rdms): raises ``ValueError`` when an array does
    not fit the caller's inputs (a cached one failing it is recomputed). Returns what ``compute`` returns,
    typically ``(n_times, n_pairs)``. ``enabled=False`` just calls ``compute()``.
    """
    if not enabled:
        return compute()
    cache = ArrayCache(_CACHE_KIND)
    arrays = cache.get_or_compute(rdm_cache_parts(source, method, params, inputs), lambda: {"rdms": compute()},
                                  check=None if check is None else (lambda value: check(value["rdms"])))
    return arrays["rdms"]
