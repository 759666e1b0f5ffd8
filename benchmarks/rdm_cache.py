"""Disk cache of EEG RDMs: computed once per (data content, method, parameters), written atomically.

Keys hash the EEG file's bytes (CRC-32 + size), the method and its parameters; entries are ``.npy`` files under
``$REALNET_HOME/cache/rdms``. An unreadable entry is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model_registry.atomic import atomic_path
from model_registry.paths import cache_dir

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1


def file_fingerprint(path: str | Path) -> str:
    """CRC-32 and size of a file's bytes (fast; guards against changed data, not tampering)."""
    crc, size = 0, 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return f"{crc:08x}-{size}"


def cached_rdms(source: str, method: str, params: dict, compute: Callable[[], np.ndarray],
                enabled: bool = True) -> np.ndarray:
    """``compute()`` once per (``source`` fingerprint, method, params); later calls read the cached array."""
    if not enabled:
        return compute()
    text = json.dumps({"v": FORMAT_VERSION, "source": source, "method": method, "params": params}, sort_keys=True,
                      default=str)
    path = cache_dir("rdms") / f"{hashlib.sha256(text.encode()).hexdigest()}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            logger.warning("RDM cache entry %s is unreadable (%s); recomputing", path, error)
    rdms = compute()
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, rdms)
    return rdms
