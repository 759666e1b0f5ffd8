"""The one downloader for weights and data files: URL + sha256, cache folder, progress bar, resumable.

pooch handles the cache and the hash check; :class:`ResumableDownloader` streams the bytes, continuing a
partial ``<name>.part`` file with an HTTP ``Range`` request (or a seek for ``file://`` URLs).
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pooch
from tqdm.auto import tqdm

from .paths import weights_dir

CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and the target path."""


class ResumableDownloader:
    """pooch downloader that resumes ``<target>.part`` files and shows a tqdm bar."""

    def __init__(self, part_path: Path, progress: bool = True, timeout: float = 60.0):
        self.part_path = Path(part_path)
        self.progress = progress
        self.timeout = timeout

    def __call__(self, url: str, output_file: str, pooch_obj=None) -> None:  # noqa: ARG002 (pooch API)
        self.part_path.parent.mkdir(parents=True, exist_ok=True)
        done = self.part_path.stat().st_size if self.part_path.exists() else 0
        response, total, done = self._open(url, done)
        mode = "ab" if done else "wb"
        with response, open(self.part_path, mode) as out, tqdm(
            total=total, initial=done, unit="B", unit_scale=True, disable=not self.progress,
            desc=Path(urllib.parse.urlparse(url).path).name, leave=False,
        ) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
        shutil.copyfile(self.part_path, output_file)

    def _open(self, url: str, done: int):
        """Open ``url`` from byte ``done``; returns (stream, total size or None, bytes already kept)."""
        if urllib.parse.urlparse(url).scheme == "file":
            path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
            size = path.stat().st_size
            done = min(done, size)
            handle = open(path, "rb")
            handle.seek(done)
            return handle, size, done
        request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
        response = urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 (user-given URL)
        length = response.headers.get("Content-Length")
        if done and response.status != 206:  # server ignored the range: start over
            done = 0
        total = int(length) + done if length is not None else None
        return response, total, done


def fetch(url: str, sha256: str | None, filename: str | None = None, folder: str | os.PathLike | None = None,
          progress: bool = True, hash_prefix: str | None = None, sha1: str | None = None) -> Path:
    """Return the local path of ``url``'s file, downloading it into ``folder`` (default ``$REALNET_HOME/weights``).

    The file is checked against ``sha256`` (hex digest; ``None`` skips the check). A partial download is
    kept as ``<filename>.part`` and continued on the next call. Offline with no cached copy, raises
    :class:`DownloadError` naming the URL and the target path. ``hash_prefix`` checks the first hex digits of the
    sha256 where only those are published (torchvision-style names such as ``cornet_s-1d3f7974.pth``); ``sha1``
    checks files whose publisher gives a sha1 only (Brain-Score storage).
    """
    folder = Path(folder) if folder is not None else weights_dir()
    filename = filename or Path(urllib.parse.urlparse(url).path).name
    target = folder / filename
    part = folder / f"{filename}.part"
    known_hash = f"sha256:{sha256}" if sha256 else (f"sha1:{sha1}" if sha1 else None)
    created = _missing_folders(folder)
    try:
        path = pooch.retrieve(url, known_hash=known_hash, fname=filename, path=folder,
                              downloader=ResumableDownloader(part, progress=progress), progressbar=False)
    except (urllib.error.URLError, OSError) as error:
        _remove_if_empty(created)
        expected = f" with {known_hash}" if known_hash else ""
        raise DownloadError(f"could not download {url} to {target}: {error}. Without internet, place the file "
                            f"there by hand{expected}.") from error
    except ValueError as error:  # pooch: hash mismatch
        part.unlink(missing_ok=True)
        _remove_if_empty(created)
        raise DownloadError(f"downloaded {url} but its hash does not match {known_hash} ({error}); "
                            f"removed the partial file {part}") from error
    part.unlink(missing_ok=True)
    if hash_prefix and not file_sha256(path).startswith(hash_prefix):
        actual = file_sha256(path)
        Path(path).unlink()
        raise DownloadError(f"{target} (from {url}) has sha256 {actual}, expected one starting with {hash_prefix}; "
                            "removed it")
    return Path(path)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created, deepest first, where nothing was left in them (a partial
    ``.part`` file is kept: the next call resumes it)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            return


def name_hash_prefix(url: str) -> str | None:
    """The sha256 prefix embedded in names like ``resnet101-63fe2227.pth``, or ``None``."""
    stem = Path(urllib.parse.urlparse(url).path).stem
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) and "-" in stem else None


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    return pooch.file_hash(str(path), alg="sha256")
