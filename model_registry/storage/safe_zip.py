"""Reading and writing zip archives safely: submissions and data archives come from other people.

:func:`safe_extract` checks every member before writing anything (absolute paths, ``..`` components, links and
other special files, duplicate names, member count, total size) and extracts into a temporary folder beside the
destination that is then moved into place, so a rejected or interrupted archive leaves nothing behind.
:func:`write_zip` writes an archive atomically and reproducibly (sorted members, fixed timestamps).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from .atomic import atomic_path

DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3  # 2 GiB uncompressed
DEFAULT_MAX_MEMBERS = 100_000
_FIXED_TIMESTAMP = (2020, 1, 1, 0, 0, 0)  # reproducible archives: same content -> same bytes
_COPY_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive member that would escape the destination, is a link/special file, or exceeds a limit."""


def _member_mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode stored in a member's external attributes (0 when the archive was not made on Unix)."""
    return (info.external_attr >> 16) & 0xFFFF


def _check_member(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeArchiveError` naming it."""
    name = info.filename
    where = f"{archive}: member {name!r}"
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"{where} has an empty or NUL-containing name")
    normalised = name.replace("\\", "/")  # Windows tools write backslashes; treat them as separators
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(f"{where} has an absolute path; archives must hold relative paths only")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{where} has a '..' component and would be written outside the destination")
    if not parts:
        raise UnsafeArchiveError(f"{where} names no file")
    mode = _member_mode(info)
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise UnsafeArchiveError(f"{where} is a symbolic link; links are not extracted")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchiveError(f"{where} is a special file (mode {oct(mode)}); only files and folders are allowed")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"{where} is encrypted")
    return PurePosixPath(*parts)


def check_archive(zip_path: str | os.PathLike, *, max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
                  max_members: int = DEFAULT_MAX_MEMBERS) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Validate every member of ``zip_path`` without extracting; returns ``(info, relative path)`` pairs.

    Raises :class:`UnsafeArchiveError` naming the first bad member, or ``FileNotFoundError`` / ``ValueError``
    for a missing or corrupt file.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FileNotFoundError(f"archive {zip_path} does not exist")
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path} is not a zip archive")
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    if len(infos) > max_members:
        raise UnsafeArchiveError(f"{zip_path} has {len(infos)} members, more than the limit of {max_members}")
    checked, seen, total = [], {}, 0
    for info in infos:
        relative = _check_member(info, zip_path)
        key = str(relative).casefold()
        if key in seen:
            raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} duplicates {seen[key]!r}")
        seen[key] = info.filename
        total += info.file_size
        if total > max_total_bytes:
            raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} brings the uncompressed size to "
                                     f"{total} bytes, above the limit of {max_total_bytes}")
        checked.append((info, relative))
    files = {str(rel) for info, rel in checked if not info.is_dir()}
    for info, relative in checked:  # a file used as a folder by another member ('a' and 'a/b')
        for parent in relative.parents:
            if str(parent) in files:
                raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} lies under the file {str(parent)!r}")
    return checked


def _plan_merge(source: Path, dest: Path) -> list[tuple[Path, Path]]:
    """Moves ``(from, to)`` that merge the tree ``source`` into ``dest``; raises if any file would be replaced."""
    moves = []
    for entry in sorted(source.iterdir()):
        target = dest / entry.name
        if not target.exists() and not target.is_symlink():
            moves.append((entry, target))
        elif entry.is_dir() and target.is_dir() and not target.is_symlink():
            moves.extend(_plan_merge(entry, target))
        else:
            raise FileExistsError(f"{target} already exists; refusing to overwrite it with the archive's copy")
    return moves


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike, *,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES, max_members: int = DEFAULT_MAX_MEMBERS) -> list[Path]:
    """Extract ``zip_path`` into ``dest`` after checking every member; returns the extracted file paths.

    Rejected (nothing written): absolute paths, ``..`` components, symlinks and special files, encrypted or
    duplicate members, more than ``max_members`` members, more than ``max_total_bytes`` uncompressed. Members are
    extracted into a temporary folder beside ``dest`` and then moved in; existing files are never overwritten
    (``FileExistsError``), existing folders are merged.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    checked = check_archive(zip_path, max_total_bytes=max_total_bytes, max_members=max_members)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract.", dir=dest.parent))
    try:
        written = 0
        with zipfile.ZipFile(zip_path) as archive:
            for info, relative in checked:
                target = staging.joinpath(*relative.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(_COPY_CHUNK):
                        written += len(chunk)
                        if written > max_total_bytes:  # headers can lie about sizes
                            raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} decompresses past the "
                                                     f"limit of {max_total_bytes} bytes")
                        sink.write(chunk)
        if not dest.exists():
            os.replace(staging, dest)
        else:
            if not dest.is_dir():
                raise NotADirectoryError(f"extraction destination {dest} exists and is not a folder")
            for source, target in _plan_merge(staging, dest):
                os.replace(source, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return [dest.joinpath(*rel.parts) for info, rel in checked if not info.is_dir()]


def write_zip(files: Mapping[str, bytes | str], path: str | os.PathLike) -> Path:
    """Write ``{archive name: content}`` to ``path`` atomically; members sorted, timestamps fixed (reproducible)."""
    path = Path(path)
    with atomic_path(path, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            if name.startswith("/") or ".." in PurePosixPath(name).parts:
                raise ValueError(f"archive member name {name!r} must be a relative path without '..'")
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            content = files[name]
            archive.writestr(info, content.encode("utf-8") if isinstance(content, str) else content)
    return path
