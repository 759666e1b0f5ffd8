"""Atomic file writes: write to a temporary file in the target folder, then rename over the target.

The temporary file ``.<target name>.<random>.tmp<suffix>`` is removed on any error, Ctrl-C or SIGTERM (see
:func:`.cleanup.sigterm_as_interrupt`); the writer holds an exclusive ``flock`` on it while it writes,
and one left by a killed process (SIGKILL) is removed by the next write to the same target or the next opening of
the cache that holds it (:func:`model_registry.storage.cleanup.remove_stale_temps`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .cleanup import atomic_temps, hold, remove_stale_temps


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on error it is removed.

    ``suffix`` is kept on the temporary name for writers that append their own extension logic
    (``np.save`` adds ``.npy`` to names without it).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(atomic_temps(target.parent, glob_escape(target.name)))  # left by a killed earlier writer
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with hold(tmp_path):  # marks it as being written (see cleanup.remove_stale_temps)
            yield tmp_path
            if tmp_path.exists():  # mkstemp makes owner-only files; give the usual umask-based mode
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp_path, 0o666 & ~umask)
            os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing that atomically becomes ``target`` when the block succeeds."""
    with atomic_path(target) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
