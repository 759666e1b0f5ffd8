"""Shared fixtures: every test runs with its own REALNET_HOME, so caches and models never leak between tests."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
# read before the autouse fixture below removes it from each test's environment
DATA_DIR_AT_START = os.environ.get("REALNET_DATA_DIR")


@pytest.fixture(autouse=True)
def realnet_home(tmp_path_factory, monkeypatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("realnet_home")
    monkeypatch.setenv("REALNET_HOME", str(home))
    monkeypatch.delenv("REALNET_DATA_DIR", raising=False)
    monkeypatch.setenv("BS_INSTALL_DEPENDENCIES", "no")
    yield home
    # trained models and checkpoints are hundreds of MB each: free the disk as the suite goes, not at its end
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def image_files(tmp_path) -> list[Path]:
    """Six small JPEG files of random textures, different sizes (as real stimulus sets have)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        size = (48 + 8 * i, 64)
        pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        path = tmp_path / f"stim_{i}.jpg"
        Image.fromarray(pixels).save(path, quality=95)
        paths.append(path)
    return paths


@pytest.fixture
def small_disk(tmp_path) -> Path:  # disk-full tests (issue 11)
    """A 2 MB tmpfs mounted for the test and unmounted afterwards."""
    mount_point = tmp_path / "small_fs"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this platform cannot mount a size-limited tmpfs for the disk-full test "
                    f"(mount -t tmpfs: {done.stderr.strip() or done.returncode}); needs root on Linux")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise FileNotFoundError(f"the shared data folder {SHARED} is missing (it sits beside the repository)")
    return SHARED


def find_kriegeskorte2008(data_dir: str | None, shared: Path, download_root: Path,
                          base_url: str | None = None) -> Path:
    """The folder holding the real 92-image files: ``<data_dir>/kriegeskorte2008`` when ``data_dir`` (the user's
    $REALNET_DATA_DIR) holds them, else ``<shared>/data/kriegeskorte2008`` when present, else downloaded into
    ``download_root`` with the package's pinned, sha256-checked downloader (``base_url``: tests serve a copy).
    Raises ``model_registry.storage.download.DownloadError`` when the download fails or a file's checksum differs."""
    from benchmarks.datasets.kriegeskorte2008.data import SHA256, download_files

    candidates = [Path(data_dir) / "kriegeskorte2008"] if data_dir else []
    for candidate in [*candidates, shared / "data" / "kriegeskorte2008"]:
        if all((candidate / name).is_file() for name in SHA256):
            return candidate
    download_files(download_root, base_url, progress=False)
    return download_root


@pytest.fixture(scope="session")
def kriegeskorte2008_dir(tmp_path_factory) -> Path:
    """The real Kriegeskorte 2008 files: $REALNET_DATA_DIR, then ../shared/data, else downloaded (checksummed)."""
    return find_kriegeskorte2008(DATA_DIR_AT_START, SHARED, tmp_path_factory.mktemp("downloads") / "kriegeskorte2008")
