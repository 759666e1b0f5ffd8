"""On-disk activation cache: one entry per content key, written atomically, verified on every read.

An entry is a folder ``<key>/`` with ``data.npy`` (``(n_stimuli, n_features)`` float32, memory-mapped on read)
and ``meta.json`` (layout, key, XXH3 checksum of the data rows, and a checksum of meta.json itself). Keys include
the extraction code version (:data:`EXTRACTION_CODE_VERSION`). Entries are built in a temporary folder and
renamed into place; a per-key file lock makes a second process wait for the first instead of computing twice.

Shared with :mod:`.array_cache` (the one checksummed array cache): the key rule (:func:`.array_cache.content_key`:
sha256 of the canonical JSON of the parts, the code version required), the cache folders (:mod:`.paths`), the
removal of what killed writers leave and the disk-full handling (:mod:`.cleanup`). Separate, and why: an activation
matrix is large (up to GBs) and is written by the extractor batch by batch through a memory map and read back
memory-mapped, so an entry is a folder (``data.npy`` + ``meta.json``) committed by one directory rename rather than
one ``.npz`` written by :func:`.atomic.atomic_path`; its checksum is the streaming XXH3-64 over rows
(:class:`RowHasher`, fed while the rows are written) rather than :func:`.array_cache.array_digest` of a whole array
in memory; and a per-key ``flock`` makes a second process wait instead of extracting twice. Both formats are kept as
they are (their versions unchanged), so existing entries stay valid.

Faults: the extractor reserves the data file's space before writing it through a memory map (a full disk gives
:class:`~.cleanup.DiskFullError`, "no space left under <cache dir>", never SIGBUS), and a half-built
entry is removed on any error, Ctrl-C or SIGTERM. Half-built entries of a process killed outright (hidden
``.<key>.<random>`` folders) are removed when the next process opens the cache, once their key's lock is free.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xxhash

from .array_cache import content_key
from .cleanup import DiskFullError, is_disk_full, remove_stale_temps, sweep_once
from .paths import cache_dir

logger = logging.getLogger(__name__)
FORMAT_VERSION = 2
_CHUNK_ROWS_BYTES = 64 << 20
_BUILDING = re.compile(r"^\.(?P<key>[0-9a-f]{64})\.[^/]+$")  # tempfile.mkdtemp(prefix=".<key>.")


# Version of the activation computation (hooks, copies, layouts, reductions): bump it whenever the extracted
# numbers change, so that entries written by the old code are never served again.
EXTRACTION_CODE_VERSION = 1


def cache_key(**parts: str) -> str:
    """sha256 over the named parts (weights hash, preprocessing, layers, stimuli hash, ...) plus the cache format
    and ``code_version`` (default :data:`EXTRACTION_CODE_VERSION`; pass ``code_version=`` to override): the
    array cache's key rule (:func:`.array_cache.content_key`) under this cache's format. Raises ``TypeError`` for a
    part that cannot be identified exactly."""
    parts.setdefault("code_version", EXTRACTION_CODE_VERSION)
    return content_key(parts, format_version=FORMAT_VERSION)


def _meta_checksum(meta: dict) -> str:
    body = {name: value for name, value in meta.items() if name != "meta_checksum"}
    return "xxh3:" + xxhash.xxh3_64_hexdigest(json.dumps(body, sort_keys=True).encode())


def rows_checksum(array: np.ndarray) -> str:
    """XXH3-64 over the rows of a C-ordered 2-D array, read in chunks (works on memory maps).

    The checksum guards against truncated or damaged files, not against tampering; XXH3 reads > 10 GB/s, so
    verifying an entry on every read costs little next to wrapping it.
    """
    hasher = RowHasher()
    hasher.update_rows(array)
    return hasher.hexdigest()


class RowHasher:
    """Incremental XXH3-64 over rows written in order; equals :func:`rows_checksum` of the final array."""

    def __init__(self):
        self.digest = xxhash.xxh3_64()
        self.n_bytes = 0

    def update_rows(self, rows: np.ndarray) -> None:
        step = max(1, _CHUNK_ROWS_BYTES // max(1, rows[0].nbytes)) if len(rows) else 1
        for start in range(0, len(rows), step):
            chunk = np.ascontiguousarray(rows[start:start + step])
            self.digest.update(memoryview(chunk).cast("B"))
            self.n_bytes += chunk.nbytes

    def hexdigest(self) -> str:
        return f"xxh3:{self.digest.hexdigest()}:{self.n_bytes}"


class ActivationCache:
    """The activation cache folder (default ``$REALNET_HOME/cache/activations``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else cache_dir("activations")
        sweep_once("activations", self.root, lambda _root: self.remove_stale())

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lock_path(self, key: str) -> Path:
        """The file a process holds an exclusive ``flock`` on while it builds the entry of ``key``."""
        return self.root / key[:2] / f"{key}.lock"

    def remove_stale(self) -> list[Path]:
        """Remove half-built entries (hidden ``.<key>.<random>`` folders) and orphan ``<key>.lock`` files left by
        killed processes: those last modified before this process started whose key nobody is building now (its
        lock is free). Runs once per process when the cache is opened; returns the removed paths."""
        shards = [shard for shard in self.root.glob("[0-9a-f][0-9a-f]") if shard.is_dir()]
        candidates = [entry for shard in shards for entry in shard.iterdir() if _BUILDING.match(entry.name)]
        removed = remove_stale_temps(candidates, lambda entry: self.lock_path(_BUILDING.match(entry.name)["key"]))
        locks = [entry for shard in shards for entry in shard.glob("*.lock") if entry.is_file()]
        return removed + remove_stale_temps(locks, lambda entry: entry)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Exclusive inter-process lock for one key (blocks while another process builds it). On a full disk, where
        the lock file cannot be made, it logs a warning and runs without the lock (an entry is still published by
        one atomic rename, so a race costs a second computation, never a mixed entry).

        The lock file is removed when the block ends (entry built or not, e.g. an undecodable stimulus), while it
        is still held: a waiter that then gets the lock sees its file is no longer the one at the path (another
        inode, or none) and opens the path again, so two processes never hold the same key at once."""
        path = self.lock_path(key)
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(path, "a+")
            except OSError as error:
                if not is_disk_full(error):
                    raise
                logger.warning("no space left under %s for the lock file of activation cache entry %s", self.root,
                               key)
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(handle.fileno())
            if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
                break
            handle.close()  # the holder before us removed (or replaced) the file: lock the one at the path now
        with handle:
            try:
                yield
            finally:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, key: str) -> tuple[np.ndarray, dict] | None:
        """The cached ``(data, meta)`` of ``key``, or ``None`` when absent or corrupt (a corrupt entry is removed)."""
        entry = self.entry_dir(key)
        if not entry.is_dir():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text())
            if meta.get("meta_checksum") != _meta_checksum(meta):
                raise ValueError("meta.json fails its checksum")
            if meta.get("key", key) != key:
                raise ValueError(f"it records the key {meta['key']}")
            data = np.load(entry / "data.npy", mmap_mode="r", allow_pickle=False)
            if list(data.shape) != meta["shape"]:
                raise ValueError(f"shape {data.shape} differs from the recorded {meta['shape']}")
            if rows_checksum(data) != meta["checksum"]:
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
            logger.warning("activation cache entry %s is corrupt (%s); recomputing", entry, error)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return data, meta

    def new_entry(self, key: str) -> Path:
        """A fresh temporary folder in which to build the entry for ``key`` (build it while holding
        :meth:`lock`). Raises :class:`DiskFullError` ("no space left under <cache dir>") when it cannot be made."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / key[:2]).mkdir(exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root / key[:2]))
        except OSError as error:
            if is_disk_full(error):
                raise DiskFullError(f"no space left under {self.root} for a new activation cache entry") from error
            raise

    def commit(self, key: str, building: Path, meta: dict) -> Path:
        """Write ``meta.json`` (with ``key`` and its own checksum) into ``building`` and move it into place; if an
        entry already exists keep that one. Raises :class:`DiskFullError` when meta.json cannot be written (the
        caller removes ``building``)."""
        meta = {**meta, "key": key}
        meta["meta_checksum"] = _meta_checksum(meta)
        try:
            (building / "meta.json").write_text(json.dumps(meta))
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"no space left under {self.root} writing {building / 'meta.json'}") from error
            raise
        target = self.entry_dir(key)
        try:
            building.rename(target)
        except OSError:  # another process finished first: its entry stays, ours goes
            shutil.rmtree(building, ignore_errors=True)
        return target
