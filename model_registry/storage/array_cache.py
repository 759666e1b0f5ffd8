"""One checksummed, self-healing on-disk cache of named numpy arrays (EEG RDMs, teacher labels, fMRI patterns).

An entry is one uncompressed ``.npz`` file ``<root>/<key[:2]>/<key>.npz`` holding the value's arrays plus a
``__meta__`` array (UTF-8 JSON): the key, the key parts it was made from and, per array, dtype, shape and an
XXH3-128 checksum of its bytes. Entries are written to a temporary file and renamed into place (atomic; readers
see the old entry or the new one, never half of one). Every read verifies the key and each array's checksum; a
damaged, truncated, foreign or stale entry is logged, removed and recomputed, never served.

The key is the sha256 of a canonical JSON text of everything the value depends on (:func:`array_cache_key`):
inputs' content (pass content hashes, see :func:`array_digest`), options, the computation's ``code_version``
(required: a constant per computation, bumped whenever its numerics change) and the backend that computes it.
Checksums guard against damaged files, not against deliberate tampering.

Caching is optional: when the disk is full, :meth:`ArrayCache.get_or_compute` logs "no space left under <cache
dir>", leaves no partial file and returns the computed value anyway. Temporary files of writers killed outright
are removed when the next process opens the cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from .atomic import atomic_path
from .cleanup import DiskFullError, atomic_temps, is_disk_full, remove_stale_temps, reserve, sweep_once
from .paths import cache_dir

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1
_META = "__meta__"
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile, json.JSONDecodeError,
                UnicodeDecodeError)


class CacheEntryError(ValueError):
    """A cache entry that cannot be trusted (unreadable, checksum mismatch, other key, failed check)."""


def array_digest(array: Any) -> str:
    """``'xxh3-128:<hex>'`` over an array's dtype, shape and C-ordered bytes (numpy arrays or torch tensors)."""
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    array = np.ascontiguousarray(np.asarray(array))
    if array.dtype.hasobject:
        raise TypeError(f"cannot hash an object array (dtype {array.dtype}); convert it to numbers or strings")
    digest = xxhash.xxh3_128()
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(memoryview(array.reshape(-1)).cast("B") if array.size else b"")
    return f"xxh3-128:{digest.hexdigest()}"


def file_digest(path: str | os.PathLike) -> str:
    """``'xxh3-128:<hex>:<size>'`` over every byte of a file, read in 16 MiB chunks."""
    digest, size = xxhash.xxh3_128(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            digest.update(chunk)
            size += len(chunk)
    return f"xxh3-128:{digest.hexdigest()}:{size}"


def _canonical(value: Any, where: str) -> Any:
    """A JSON-able value that identifies ``value`` exactly (arrays by content hash); anything else is refused,
    because ``str()`` of an unknown object (or a large array, printed with ``...``) can make two values collide."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray) or hasattr(value, "detach"):
        return {"__array__": array_digest(value)}
    if isinstance(value, os.PathLike):
        return {"__path__": os.fspath(value)}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cache key part {where}: mapping keys must be strings, got {list(value)[:5]}")
        return {k: _canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__qualname__,
                **{f.name: _canonical(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}}
    if type(value).__module__ == "torch" and type(value).__name__ == "device":
        return {"__device__": str(value)}
    raise TypeError(f"cache key part {where}: cannot identify a {type(value).__name__} value exactly; pass a "
                    "number, string, list, dict, array or dataclass of those")


def content_key(parts: Mapping[str, Any], *, format_version: int) -> str:
    """sha256 (hex) of the canonical JSON of ``{"format": format_version, **parts}``: the key rule every cache of
    this floor uses (this one and :mod:`.activation_cache`). ``parts`` must include ``code_version``.

    Raises ``ValueError`` without ``code_version`` and ``TypeError`` for a part that cannot be identified exactly.
    """
    if "code_version" not in parts:
        raise ValueError(f"cache key parts need a 'code_version' (the computation's version); got {sorted(parts)}")
    text = json.dumps({"format": format_version, **_canonical(dict(parts), "parts")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def array_cache_key(parts: Mapping[str, Any]) -> str:
    """The key of an :class:`ArrayCache` entry: :func:`content_key` of ``parts`` under this cache's format.

    Raises ``ValueError`` without ``code_version`` and ``TypeError`` for a part that cannot be identified exactly.
    """
    return content_key(parts, format_version=FORMAT_VERSION)


class ArrayCache:
    """Checksummed cache of ``{name: array}`` values for one kind (default folder ``$REALNET_HOME/cache/<kind>``).

    ``get_or_compute(parts, compute, check)`` is the usual entry; ``load`` / ``store`` are its halves.
    """

    def __init__(self, kind: str, root: str | Path | None = None):
        self.kind = kind
        self.root = Path(root) if root is not None else cache_dir(kind)
        sweep_once(f"array:{kind}", self.root, _remove_stale)

    def path(self, key: str) -> Path:
        """The entry file of ``key`` (it may not exist)."""
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str, check: Callable[[dict[str, np.ndarray]], None] | None = None
             ) -> dict[str, np.ndarray] | None:
        """The verified arrays of ``key``, or ``None`` when absent. A damaged entry (unreadable, a checksum that
        differs, another key, or one that ``check`` rejects by raising) is logged at WARNING, removed, and
        ``None`` is returned so that the caller recomputes it."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            arrays = _read_entry(path, key)
            if check is not None:
                try:
                    check(arrays)
                except (ValueError, KeyError, IndexError, TypeError) as error:
                    raise CacheEntryError(f"it does not match its inputs: {error}") from error
        except (CacheEntryError, *_READ_ERRORS) as error:
            logger.warning("%s cache entry %s is damaged or stale (%s); removing it and recomputing",
                           self.kind, path, error)
            path.unlink(missing_ok=True)
            return None
        return arrays

    def store(self, key: str, arrays: Mapping[str, np.ndarray], parts: Mapping[str, Any] | None = None) -> Path:
        """Write ``arrays`` (numeric or string dtypes, no objects) atomically as the entry of ``key``.

        Raises :class:`~.cleanup.DiskFullError` ("no space left under <cache dir>") when the disk is
        full; no partial file is left."""
        arrays = {name: np.ascontiguousarray(np.asarray(value)) for name, value in arrays.items()}
        for name, value in arrays.items():
            if name == _META or value.dtype.hasobject:
                raise TypeError(f"{self.kind} cache: array {name!r} (dtype {value.dtype}) cannot be stored")
        meta = {"format": FORMAT_VERSION, "key": key, "kind": self.kind,
                "parts": _canonical(dict(parts), "parts") if parts is not None else None,
                "arrays": {name: {"dtype": value.dtype.str, "shape": list(value.shape),
                                  "checksum": array_digest(value)} for name, value in arrays.items()}}
        encoded = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        path = self.path(key)
        try:
            with atomic_path(path, suffix=".npz") as tmp:
                with open(tmp, "wb") as handle:
                    # reserve the space first (a full disk fails here, not inside zipfile), then cut it to size
                    reserve(handle, sum(v.nbytes for v in arrays.values()) + encoded.nbytes
                            + 4096 * (len(arrays) + 2), self.root)
                    np.savez(handle, **{_META: encoded}, **arrays)
                    handle.truncate(handle.tell())
                    handle.flush()
                    os.fsync(handle.fileno())
        except (OSError, RuntimeError, ValueError) as error:  # zipfile may wrap the write error
            if isinstance(error, DiskFullError) or not is_disk_full(error):
                raise
            size = sum(value.nbytes for value in arrays.values())
            raise DiskFullError(f"no space left under {self.root} writing {self.kind} cache entry {path.name} "
                                f"({size / 2**20:.1f} MB)") from error
        return path

    def get_or_compute(self, parts: Mapping[str, Any], compute: Callable[[], Mapping[str, np.ndarray]], *,
                       check: Callable[[dict[str, np.ndarray]], None] | None = None,
                       enabled: bool = True) -> dict[str, np.ndarray]:
        """The arrays for ``parts``: read and verified from disk, else ``compute()`` and stored.

        ``check(arrays)`` raises (``ValueError`` ...) when a value does not fit the inputs it stands for (shapes,
        ids); a cached value failing it is recomputed, a freshly computed one failing it is an error.
        ``enabled=False`` computes without reading or writing the cache.
        """
        key = array_cache_key(parts)  # before any work: a part that cannot be identified is refused here
        if enabled:
            cached = self.load(key, check)
            if cached is not None:
                return cached
        value = {name: np.asarray(array) for name, array in compute().items()}
        if check is not None:
            check(value)
        if enabled:
            try:
                self.store(key, value, parts)
            except DiskFullError as error:  # caching is optional: the computed value is returned anyway
                logger.warning("%s; the computed value is used without caching it", error)
        return value


def _remove_stale(root: Path) -> None:
    """Temporary entry files (``.<key>.npz.<random>.tmp.npz``) of writers killed outright (see
    :func:`model_registry.storage.cleanup.remove_stale_temps`)."""
    remove_stale_temps([temp for shard in root.glob("[0-9a-f][0-9a-f]") if shard.is_dir()
                        for temp in atomic_temps(shard)])


def _read_entry(path: Path, key: str) -> dict[str, np.ndarray]:
    raw = path.read_bytes()  # one read: the file may be replaced while we look at it
    with np.load(io.BytesIO(raw), allow_pickle=False) as content:
        if _META not in content.files:
            raise CacheEntryError("it has no metadata")
        meta = json.loads(content[_META].tobytes().decode())
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            raise CacheEntryError(f"it records format {meta.get('format')} and key {str(meta.get('key'))[:16]}...")
        names = sorted(name for name in content.files if name != _META)
        if names != sorted(meta["arrays"]):
            raise CacheEntryError(f"it holds arrays {names}, its metadata lists {sorted(meta['arrays'])}")
        arrays = {}
        for name in names:
            value, record = content[name], meta["arrays"][name]
            if value.dtype.str != record["dtype"] or list(value.shape) != record["shape"]:
                raise CacheEntryError(f"array {name!r} is {value.dtype.str} {value.shape}, recorded "
                                      f"{record['dtype']} {tuple(record['shape'])}")
            if array_digest(value) != record["checksum"]:
                raise CacheEntryError(f"array {name!r} fails its checksum")
            arrays[name] = value
    return arrays
