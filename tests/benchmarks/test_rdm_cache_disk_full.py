"""Disk full while writing the EEG RDM cache (issue 11, section 2): the computed RDMs are returned anyway, with a
warning naming the cache folder, and no partial or temporary file is left (2 MB tmpfs mounted per test)."""
from __future__ import annotations

import logging

import numpy as np

from benchmarks.rdm_cache import cached_rdms


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
