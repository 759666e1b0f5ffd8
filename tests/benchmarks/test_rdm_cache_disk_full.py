"""Disk full while writing the EEG RDM cache (issue 11, section 2): the computed RDMs are returned anyway, with a
warning naming the cache folder, and no partial or temporary file is left (2 MB tmpfs mounted per test)."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.rdm_cache import cached_rdms


@pytest.fixture
def small_disk(tmp_path) -> Path:
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


def test_rdm_cache_on_a_full_disk_returns_the_computed_rdms(small_disk, monkeypatch, caplog):
    monkeypatch.setenv("REALNET_HOME", str(small_disk))
    rdms = np.random.default_rng(5).random((60, 4950))  # 60 time points x 100-image RDM, float64: 2.3 MB
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return rdms.copy()

    with caplog.at_level(logging.WARNING):
        got = cached_rdms("xxh3-128:feed:1", "correlation", {}, compute)
    np.testing.assert_array_equal(got, rdms)
    assert f"no space left under {small_disk / 'cache' / 'rdms'}" in caplog.text
    assert "used without caching it" in caplog.text
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []
    # nothing was cached: the next call computes again (and still returns the right values)
    np.testing.assert_array_equal(cached_rdms("xxh3-128:feed:1", "correlation", {}, compute), rdms)
    assert len(calls) == 2
