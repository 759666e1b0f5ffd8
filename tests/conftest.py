"""Shared fixtures: every test runs with its own REALNET_HOME, so caches and models never leak between tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def realnet_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("realnet_home")
    monkeypatch.setenv("REALNET_HOME", str(home))
    monkeypatch.delenv("REALNET_DATA_DIR", raising=False)
    monkeypatch.setenv("BS_INSTALL_DEPENDENCIES", "no")
    return home


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


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise FileNotFoundError(f"the shared data folder {SHARED} is missing (it sits beside the repository)")
    return SHARED
