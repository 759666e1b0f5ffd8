"""The one checksummed array cache: keys, atomic entries, damage detected by checksum, removed and recomputed."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest
import xxhash

from model_registry.storage.array_cache import ArrayCache, array_cache_key, array_digest, file_digest


def _expected():
    # a value the test knows independently of the cache: 3 x 5 float64 and 4 strings
    return {"values": np.arange(15, dtype=np.float64).reshape(3, 5) / 7.0,
            "ids": np.array(["a", "bb", "ccc", "d"])}


def _counting(calls):
    def compute():
        calls.append(1)
        return _expected()
    return compute


def _assert_expected(arrays):
    expected = _expected()
    assert sorted(arrays) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(arrays[name], expected[name])
        assert arrays[name].dtype == expected[name].dtype


PARTS = {"code_version": 1, "input": "abc", "options": {"n": 3}}


def test_second_call_reads_the_entry_without_computing(tmp_path):
    cache, calls = ArrayCache("demo", tmp_path), []
    _assert_expected(cache.get_or_compute(PARTS, _counting(calls)))
    _assert_expected(cache.get_or_compute(PARTS, _counting(calls)))
    assert calls == [1]
    (entry,) = tmp_path.rglob("*.npz")
    assert entry == cache.path(array_cache_key(PARTS))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != entry]  # no temporary file left behind


def _flip_in_data(path, needle: bytes, offset: int = 3) -> None:
    raw = bytearray(path.read_bytes())
    where = raw.find(needle)
    assert where >= 0 and raw.find(needle, where + 1) < 0  # the array's bytes sit once, uncompressed, in the file
    raw[where + offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_flipped_bytes_in_an_entry_are_detected_logged_removed_and_recomputed(tmp_path, caplog):
    cache, calls = ArrayCache("demo", tmp_path), []
    cache.get_or_compute(PARTS, _counting(calls))
    entry = cache.path(array_cache_key(PARTS))
    _flip_in_data(entry, _expected()["values"].tobytes(), offset=20)
    with caplog.at_level(logging.WARNING, logger="model_registry.storage.array_cache"):
        again = cache.get_or_compute(PARTS, _counting(calls))
    _assert_expected(again)
    assert calls == [1, 1]
    assert "damaged or stale" in caplog.text and str(entry) in caplog.text
    _assert_expected(cache.load(array_cache_key(PARTS)))  # the rewritten entry is sound


def test_checksum_catches_data_that_the_zip_layer_accepts(tmp_path):
    """A damaged array inside an otherwise valid archive (zip CRCs recomputed) fails the array's own checksum."""
    cache, calls = ArrayCache("demo", tmp_path), []
    cache.get_or_compute(PARTS, _counting(calls))
    entry = cache.path(array_cache_key(PARTS))
    with np.load(entry, allow_pickle=False) as content:
        arrays = {name: content[name] for name in content.files}
    arrays["values"] = arrays["values"].copy()
    arrays["values"][1, 2] += 1e-12  # a silent numeric change
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    entry.write_bytes(buffer.getvalue())
    with zipfile.ZipFile(entry) as archive:
        assert archive.testzip() is None  # the archive itself is intact
    _assert_expected(cache.get_or_compute(PARTS, _counting(calls)))
    assert calls == [1, 1]


def test_truncated_and_foreign_entries_are_recomputed(tmp_path):
    cache, calls = ArrayCache("demo", tmp_path), []
    cache.get_or_compute(PARTS, _counting(calls))
    entry = cache.path(array_cache_key(PARTS))
    entry.write_bytes(entry.read_bytes()[:-40])
    _assert_expected(cache.get_or_compute(PARTS, _counting(calls)))
    assert calls == [1, 1]
    other = {**PARTS, "input": "xyz"}  # an intact entry copied under another key is not served for that key
    other_path = cache.path(array_cache_key(other))
    other_path.parent.mkdir(parents=True, exist_ok=True)
    other_path.write_bytes(entry.read_bytes())
    assert cache.load(array_cache_key(other)) is None and not other_path.exists()


def test_a_check_that_rejects_a_cached_value_recomputes_and_rejects_a_fresh_one(tmp_path):
    cache, calls = ArrayCache("demo", tmp_path), []
    cache.get_or_compute(PARTS, _counting(calls))

    def wants_four_rows(arrays):
        if arrays["values"].shape[0] != 4:
            raise ValueError(f"expected 4 rows, got {arrays['values'].shape[0]}")

    with pytest.raises(ValueError, match="expected 4 rows, got 3"):
        cache.get_or_compute(PARTS, _counting(calls), check=wants_four_rows)
    assert calls == [1, 1]


def test_disabled_cache_computes_and_writes_nothing(tmp_path):
    cache, calls = ArrayCache("demo", tmp_path / "c"), []
    cache.get_or_compute(PARTS, _counting(calls), enabled=False)
    cache.get_or_compute(PARTS, _counting(calls), enabled=False)
    assert calls == [1, 1] and not (tmp_path / "c").exists()


def test_key_is_sha256_of_canonical_parts_and_needs_a_code_version():
    text = json.dumps({"format": 1, "code_version": 3, "a": [1, 2.5, None, True], "b": {"c": "d"}}, sort_keys=True)
    assert array_cache_key({"b": {"c": "d"}, "a": (1, 2.5, None, True), "code_version": 3}) == \
        hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ValueError, match="code_version"):
        array_cache_key({"a": 1})
    assert array_cache_key({**PARTS, "code_version": 2}) != array_cache_key(PARTS)
    assert array_cache_key({**PARTS, "backend": "native"}) != array_cache_key({**PARTS, "backend": "torch-cpu"})


def test_arrays_in_keys_count_by_content_not_by_their_printed_form():
    a = np.zeros(5000)
    b = a.copy()
    b[2500] = 1.0
    assert str(a) == str(b)  # what a str()-based key would have used
    assert array_cache_key({"code_version": 1, "x": a}) != array_cache_key({"code_version": 1, "x": b})
    assert array_cache_key({"code_version": 1, "x": a}) == array_cache_key({"code_version": 1, "x": a.copy()})
    assert array_cache_key({"code_version": 1, "x": a}) != array_cache_key({"code_version": 1, "x": a.astype("f4")})

    @dataclass
    class Plan:
        pairs: np.ndarray
        n: int

    plan_a, plan_b = {"code_version": 1, "p": Plan(a, 1)}, {"code_version": 1, "p": Plan(b, 1)}
    assert array_cache_key(plan_a) != array_cache_key(plan_b)
    with pytest.raises(TypeError, match=r"parts\.x: cannot identify a object"):
        array_cache_key({"code_version": 1, "x": object()})


def test_digests_equal_xxh3_of_the_bytes(tmp_path):
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    reference = xxhash.xxh3_128(f"{array.dtype.str}|{array.shape}|".encode() + array.tobytes()).hexdigest()
    assert array_digest(array) == f"xxh3-128:{reference}"
    assert array_digest(np.asfortranarray(array)) == array_digest(array)  # layout does not matter, values do
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello world" * 1000)
    assert file_digest(path) == f"xxh3-128:{xxhash.xxh3_128(b'hello world' * 1000).hexdigest()}:11000"


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot be stored"):
        ArrayCache("demo", tmp_path).store("ab" * 32, {"x": np.array([{"a": 1}], dtype=object)})
