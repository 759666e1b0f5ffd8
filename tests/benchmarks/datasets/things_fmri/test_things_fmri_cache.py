"""THINGS-fMRI averaged-pattern cache: checksummed (a damaged entry is recomputed) and keyed by file identity."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets.things_fmri import data as things
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri
from model_registry.storage.array_cache import ArrayCache
from tests.benchmarks.datasets.things_fmri.test_things_fmri_data import rewrite_responses


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_synthetic_things_fmri(tmp_path_factory.mktemp("synth") / "things-fmri", n_subjects=1)


@pytest.fixture
def copy(written, tmp_path) -> Path:
    return Path(shutil.copytree(written.root, tmp_path / "things-fmri"))


def _load(root):
    return things.load_things_fmri(root, subjects=("01",), progress=False)


def _counting(monkeypatch) -> list:
    calls, original = [], things._read_test_means
    monkeypatch.setattr(things, "_read_test_means", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def _assert_expected(loaded, written, offset=0.0):
    for roi in loaded.rois:
        np.testing.assert_allclose(loaded.pattern("sub-01", roi), written.expected["sub-01"][roi] + offset,
                                   rtol=1e-12, atol=1e-12)


def test_flipped_bytes_in_the_pattern_entry_are_detected_and_recomputed(copy, written, monkeypatch, caplog):
    calls = _counting(monkeypatch)
    _assert_expected(_load(copy), written)
    (entry,) = ArrayCache(things.DATASET).root.rglob("*.npz")
    with np.load(entry, allow_pickle=False) as content:
        stored = content["means"].tobytes()
    raw = bytearray(entry.read_bytes())
    where = raw.find(stored)
    assert where >= 0
    raw[where + len(stored) // 2 + 6] ^= 0x01  # the exponent of one averaged response: a quietly wrong value
    entry.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        again = _load(copy)
    assert calls == [1, 1] and "damaged or stale" in caplog.text
    _assert_expected(again, written)
    _assert_expected(_load(copy), written)
    assert calls == [1, 1]


def test_a_changed_response_file_with_the_same_size_and_mtime_is_not_served_stale(copy, written, monkeypatch):
    calls = _counting(monkeypatch)
    _assert_expected(_load(copy), written)
    path = things.subject_files(copy, "01")["ResponseData"]
    stat = path.stat()
    rewrite_responses(copy, "01", lambda responses: responses + 1.0)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # e.g. a copy that preserves times
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    _assert_expected(_load(copy), written, offset=1.0)
    assert calls == [1, 1]


def test_cache_code_version_is_in_the_key(copy, written, monkeypatch):
    calls = _counting(monkeypatch)
    _load(copy)
    monkeypatch.setattr(things, "CACHE_VERSION", things.CACHE_VERSION + 1)
    _assert_expected(_load(copy), written)
    assert calls == [1, 1]
    assert len(list(ArrayCache(things.DATASET).root.rglob("*.npz"))) == 2
