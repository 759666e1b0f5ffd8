"""Disk full while caching (issue 11, section 2): a small tmpfs that each test mounts and unmounts.

Caching is optional, so a full disk must neither kill the process (SIGBUS from a memory map) nor lose the result:
the activation cache and the array cache log "no space left under <cache dir>", leave no partial entry and return
the values, which are checked against a plain torch forward pass / the array the computation returned.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from model_registry.extractor import ActivationsExtractor
from model_registry.preprocessing import Preprocessing
from model_registry.stimuli import as_stimuli
from model_registry.storage.activation_cache import ActivationCache
from model_registry.storage.array_cache import ArrayCache
from model_registry.storage.cleanup import DiskFullError


def _everything_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()


def _expected(network: torch.nn.Module, image_files, preprocessing: Preprocessing) -> np.ndarray:
    """Layer '1' (the ReLU) by a plain forward pass over all images at once."""
    stimuli = as_stimuli(image_files)
    pixels = torch.stack([preprocessing(stimuli.image(i)) for i in range(len(stimuli))])
    with torch.no_grad():
        return network(pixels).flatten(1).numpy()


def test_activation_cache_on_a_full_disk_returns_the_values_and_leaves_nothing(small_disk, image_files, caplog):
    network, preprocessing = _network(), Preprocessing()
    expected = _expected(network, image_files, preprocessing)
    assert expected.nbytes > 2 * 2**20  # larger than the whole file system: the reservation must fail
    cache_root = small_disk / "activations"
    extractor = ActivationsExtractor(network, preprocessing, cache=cache_root, batch_size=2, progress=False)
    with caplog.at_level(logging.WARNING):
        result = extractor(image_files, ["1"])
    np.testing.assert_allclose(np.asarray(result.values), expected, rtol=1e-5, atol=1e-6)
    assert f"no space left under {cache_root}" in caplog.text
    assert "without caching" in caplog.text
    # no hidden half-built entry, no data file: only the shard folder and the key's (empty) lock file remain
    left = _everything_under(small_disk)
    assert not [name for name in left if Path(name).name.startswith(".") or name.endswith(".npy")], left
    assert all(name.endswith(".lock") or (small_disk / name).is_dir() for name in left), left
    # the disk is free again: the same extraction now fits when the result is small enough
    small = ActivationsExtractor(network, Preprocessing(image_size=32), cache=cache_root, progress=False)
    small(image_files, ["1"])
    assert [name for name in _everything_under(small_disk) if name.endswith("data.npy")]


def test_full_scratch_disk_keeps_large_uncached_activations_in_memory(small_disk, image_files, monkeypatch, caplog):
    monkeypatch.setenv("REALNET_HOME", str(small_disk))
    network, preprocessing = _network(), Preprocessing()
    expected = _expected(network, image_files, preprocessing)
    extractor = ActivationsExtractor(network, preprocessing, cache=False, stream_threshold_bytes=0, progress=False)
    with caplog.at_level(logging.WARNING):
        result = extractor(image_files, ["1"])
    np.testing.assert_allclose(np.asarray(result.values), expected, rtol=1e-5, atol=1e-6)
    assert f"no space left under {small_disk / 'cache' / 'scratch'}" in caplog.text
    assert "in memory instead" in caplog.text
    assert [name for name in _everything_under(small_disk) if Path(name).is_file() or "." in Path(name).name] == []


def test_array_cache_on_a_full_disk_returns_the_computed_value(small_disk, caplog):
    value = np.random.default_rng(3).standard_normal((4, 100_000)).astype(np.float32)  # 1.6 MB
    calls = []

    def compute():
        calls.append(1)
        return {"value": value.copy(), "twice": value.copy()}  # 3.2 MB in all: more than the disk holds

    cache = ArrayCache("test-kind", root=small_disk / "arrays")
    with caplog.at_level(logging.WARNING):
        got = cache.get_or_compute({"code_version": 1, "x": 1}, compute)
    np.testing.assert_array_equal(got["value"], value)
    np.testing.assert_array_equal(got["twice"], value)
    assert f"no space left under {small_disk / 'arrays'}" in caplog.text
    assert not [p for p in (small_disk / "arrays").rglob("*") if p.is_file()]  # no partial or temporary file
    with pytest.raises(DiskFullError, match=f"no space left under {small_disk / 'arrays'}"):
        cache.store("ab" * 32, compute())
    assert not [p for p in (small_disk / "arrays").rglob("*") if p.is_file()]
    # a value that fits is cached as before: the second call reads it
    small = cache.get_or_compute({"code_version": 1, "x": 2}, lambda: {"value": value[:1]})
    again = cache.get_or_compute({"code_version": 1, "x": 2}, lambda: pytest.fail("recomputed a cached value"))
    np.testing.assert_array_equal(again["value"], small["value"])


def test_reservation_failure_removes_the_data_file(small_disk):
    from model_registry.extractor import _reserved_memmap

    target = small_disk / "data.npy"
    with pytest.raises(DiskFullError, match=f"no space left under {small_disk}: 3.8 MB needed, 2.0 MB free"):
        _reserved_memmap(target, (1000, 1000), small_disk)
    assert not target.exists() and os.listdir(small_disk) == []


def test_activation_cache_open_keeps_entries_being_built(tmp_path):
    """A half-built entry whose key lock is held (a live writer) survives the next open; a free one goes."""
    import fcntl
    import time

    key = "ab" * 32
    root = tmp_path / "activations"
    building = root / "ab" / f".{key}.x1y2z3"
    building.mkdir(parents=True)
    old = time.time() - 3600
    os.utime(building, (old, old))
    lock = root / "ab" / f"{key}.lock"
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert ActivationCache(root).remove_stale() == []
        assert building.is_dir()
    assert ActivationCache(root).remove_stale() == [building]
    assert not building.exists()
