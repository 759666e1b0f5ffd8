"""Faults leave nothing behind: SIGTERM handled like Ctrl-C, stale temporary entries removed, disk-full detection.

- :func:`sigterm_as_interrupt` turns SIGTERM into ``KeyboardInterrupt`` while a command runs, so the cleanup that
  already runs on Ctrl-C (atomic writes remove their temporary file, the activation cache removes its half-built
  entry, SQLite rolls back) also runs when a job scheduler or ``kill`` stops the process.
- A process killed with SIGKILL (or by the OOM killer, or a power cut) cannot clean up. Its hidden temporary
  entries (``.<name>.<random>.tmp...`` files of :func:`.atomic.atomic_path`, ``.<key>.<random>``
  folders of the activation cache) are removed by the next process that opens the same folder
  (:func:`remove_stale_temps`): only entries last modified before that process started and not held by a lock
  (a writer holds an exclusive ``flock`` on its temporary file, or on the cache key's lock file, while it writes).
- :func:`is_disk_full` recognises "no space left" in the forms the writers report it (``OSError`` ENOSPC/EDQUOT,
  SQLite's "database or disk is full", torch's ``inline_container.cc`` write failures), and :class:`DiskFullError`
  is the one-line error raised for it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)
_IMPORT_TIME = time.time()
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_TEXTS = ("no space left", "disk is full", "disk quota exceeded")


class DiskFullError(OSError):
    """No space left on the file system a file is written to (``errno`` is ``ENOSPC``); the message names it."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def _process_start_time() -> float:
    """Wall-clock time (s since the epoch) at which this process started (Linux ``/proc``; else import time)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 (starttime), counted from field 3 after the command name
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return min(boot + ticks / os.sysconf("SC_CLK_TCK"), _IMPORT_TIME)
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORT_TIME


PROCESS_START = _process_start_time()


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes available to this user on the file system of ``path`` (its nearest existing parent), or ``None``."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says that the file system is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            return True
        if getattr(error, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
            return True
        if any(text in str(error).lower() for text in _DISK_FULL_TEXTS):
            return True
        error = error.__cause__ or error.__context__
    return False


def format_size(n_bytes: float) -> str:
    """``1536`` -> ``'1.5 KB'`` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1024 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def reserve(handle_or_fd, size: int, where: str | os.PathLike) -> None:
    """Allocate ``size`` bytes of an open file on disk now (``posix_fallocate``), so that writing it later through a
    memory map cannot end in SIGBUS when the disk fills up. Raises :class:`DiskFullError` naming ``where``."""
    fd = handle_or_fd if isinstance(handle_or_fd, int) else handle_or_fd.fileno()
    if size <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno in _DISK_FULL_ERRNOS:
            free = free_bytes(where)
            raise DiskFullError(f"no space left under {where}: {format_size(size)} needed"
                                + (f", {format_size(free)} free" if free is not None else "")) from error
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        # file systems without fallocate: write zeros, which fails the same way when space runs out
        _reserve_by_writing(fd, size, where)


def _reserve_by_writing(fd: int, size: int, where: str | os.PathLike) -> None:
    block = bytes(1 << 20)
    position = os.fstat(fd).st_size
    try:
        while position < size:
            position += os.pwrite(fd, block[:min(len(block), size - position)], position)
    except OSError as error:
        if error.errno in _DISK_FULL_ERRNOS:
            raise DiskFullError(f"no space left under {where}: {format_size(size)} needed") from error
        raise


# --- stale temporary entries ------------------------------------------------------------------------------------
_OFD = hasattr(fcntl, "F_OFD_SETLKW") and hasattr(fcntl, "F_OFD_GETLK")  # Linux open-file-description locks


def _ofd_lock_struct(kind: int) -> bytes:
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, 0, 0, 0)  # struct flock: whole file, l_pid 0 (OFD locks)


@contextlib.contextmanager
def hold(path: str | os.PathLike) -> Iterator[None]:
    """Hold a lock on ``path`` (an existing file) while the block runs: marks it as being written, so that
    :func:`remove_stale_temps` in another process leaves it alone.

    It is an open-file-description read lock (Linux ``F_OFD_SETLKW``), not ``flock``: writers such as HDF5
    (h5py, netCDF) take their own exclusive ``flock`` on the file they write, which must not conflict with it,
    and closing another descriptor of the file does not release it. Where OFD locks are missing, nothing is locked
    and the age rule of :func:`is_stale` alone protects live writers."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _OFD:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, _ofd_lock_struct(fcntl.F_RDLCK))
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _unlocked(lock: Path) -> bool:
    """Whether nobody holds a lock on ``lock`` now: neither a ``flock`` (the activation cache's key locks, HDF5)
    nor an OFD lock (:func:`hold`). A missing file is unlocked."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if _OFD:
            found = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _ofd_lock_struct(fcntl.F_WRLCK))
            if struct.unpack("hhqqi4x", found)[0] != fcntl.F_UNLCK:
                return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def is_stale(entry: Path, lock: Path | None = None) -> bool:
    """Whether ``entry`` was last modified before this process started and nobody holds ``lock`` (default: the
    entry itself when it is a file)."""
    try:
        modified = entry.lstat().st_mtime
    except OSError:
        return False
    if modified >= PROCESS_START:
        return False
    if lock is None:
        lock = entry if entry.is_file() else None
    return lock is None or _unlocked(lock)


def remove_stale_temps(candidates: Iterable[Path], lock_of: Callable[[Path], Path | None] | None = None
                       ) -> list[Path]:
    """Remove the stale ones (:func:`is_stale`) among ``candidates``, files or folders; ``lock_of(entry)`` names
    the lock a live writer of ``entry`` would hold. Returns the removed paths (each is logged)."""
    removed = []
    for entry in candidates:
        if not is_stale(entry, lock_of(entry) if lock_of is not None else None):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            logger.warning("could not remove the stale temporary entry %s (%s)", entry, error)
            continue
        logger.info("removed %s, left behind by an interrupted run", entry)
        removed.append(entry)
    return removed


def atomic_temps(folder: Path, name: str = "*") -> list[Path]:
    """The temporary files :func:`.atomic.atomic_path` makes in ``folder`` (for targets ``name``)."""
    try:
        return sorted(folder.glob(f".{name}.*.tmp*"))
    except OSError:
        return []


_SWEPT: set[tuple[str, str]] = set()
_SWEPT_LOCK = threading.Lock()


def sweep_once(kind: str, root: Path, sweep: Callable[[Path], object]) -> None:
    """Run ``sweep(root)`` once per process and folder (opening a cache many times costs one scan). Errors of the
    sweep are logged, never raised: cleaning up is a courtesy, not a reason to fail."""
    key = (kind, str(Path(root).resolve()) if Path(root).exists() else str(root))
    with _SWEPT_LOCK:
        if key in _SWEPT:
            return
        _SWEPT.add(key)
    if not Path(root).is_dir():
        return
    try:
        sweep(Path(root))
    except OSError as error:
        logger.warning("could not scan %s for stale temporary entries (%s)", root, error)


# --- signals ----------------------------------------------------------------------------------------------------
def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"terminated by signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` in the main thread (as Ctrl-C does), so that
    ``finally`` / ``except BaseException`` cleanups run. Outside the main thread it does nothing. The previous
    handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
