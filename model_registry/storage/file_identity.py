"""A large input file's content digest, computed once and reused while the file's stamp is unchanged.

Hashing a 218 MB THINGS-EEG2 file reads all of it; doing so on every RDM cache hit costs more than the cached
RDMs save. :func:`stamped_digest` records ``(size, mtime_ns, ctime_ns, inode, device) -> digest`` in
``cache_dir('file-digests')`` (one small JSON file per absolute path, written atomically) and re-digests only when
the stamp differs from the recorded one.

What could make it silently wrong, and what guards each case:

- content changed in place with size, mtime *and* ctime kept: ctime cannot be set by ``touch``/``rsync -t``/
  ``cp -p`` (any write or metadata change sets it to the current clock), so this needs a clock set backwards or
  writes to the raw block device;
- a rewrite within the filesystem's timestamp granularity (coarse clocks, FAT, some network filesystems): a
  record is trusted only when the file was last changed more than :data:`RACY_SECONDS` before the digest was
  taken (git's "racily clean" rule); younger files are re-digested on every call;
- a file replaced by another with the same size and preserved mtime (``cp -p``, a restored backup, a reused inode
  number): the new file has a new ctime (and usually a new inode);
- silent bit rot on the disk (content changes, stamp does not): NOT detected; pass ``cache=False`` to the
  benchmark (or delete ``cache_dir('file-digests')``) to force a full read. Validation of the file's values
  still runs on every benchmark object that reads the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from .array_cache import file_digest
from .atomic import atomic_path
from .paths import cache_dir

RACY_SECONDS = 2.0  # a file changed this recently may still change within the same timestamp tick
_RECORD_VERSION = 1


def file_stamp(path: str | os.PathLike) -> dict[str, int]:
    """``{size, mtime_ns, ctime_ns, inode, device}`` of ``path`` (one ``stat``; ``FileNotFoundError`` if absent)."""
    info = os.stat(path)
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns,
            "inode": info.st_ino, "device": info.st_dev}


def _record_path(path: Path) -> Path:
    name = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir("file-digests") / f"{name}.json"


def stamped_digest(path: str | os.PathLike) -> str:
    """The content digest of ``path`` (``'xxh3-128:<hex>:<size>'``,
    :func:`model_registry.storage.array_cache.file_digest`), read from its record when the file's stamp
    (:func:`file_stamp`) equals the recorded one, else computed from every byte and recorded
    (module docstring: what this trusts). Raises ``FileNotFoundError`` for a missing file and ``RuntimeError`` naming
    the file when it changed while it was being read."""
    path = Path(path).resolve()
    stamp = file_stamp(path)
    record = _record_path(path)
    try:
        kept = json.loads(record.read_text())
        if kept.get("version") == _RECORD_VERSION and kept.get("path") == str(path) and kept.get("stamp") == stamp:
            return str(kept["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no record, or an unreadable one: digest again
    digest = file_digest(path)
    after = file_stamp(path)
    if after != stamp:
        raise RuntimeError(f"{path} changed while its content digest was computed (stamp {stamp} -> {after}); "
                           "let whatever writes it finish, then retry")
    changed_s = max(stamp["mtime_ns"], stamp["ctime_ns"]) / 1e9
    if time.time() - changed_s > RACY_SECONDS:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(record, suffix=".json") as tmp:
                Path(tmp).write_text(json.dumps({"version": _RECORD_VERSION, "path": str(path), "stamp": stamp,
                                                 "digest": digest}))
        except OSError:
            pass  # the record only saves time; a full disk must not fail the read
    return digest
