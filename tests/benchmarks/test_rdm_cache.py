"""EEG-RDM cache: damaged entries detected and recomputed; key holds content, options, code version and backend."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import xxhash

from benchmarks import rdm_cache
from benchmarks.rdm_cache import cached_rdms, file_fingerprint, rdm_cache_key, rdm_cache_parts
from benchmarks.rsa import eeg_rdms
from model_registry.storage.array_cache import ArrayCache

SVM = {"navg": 2, "n_folds": 4, "n_repeats": 2, "smooth_window": 1}


@pytest.fixture
def eeg() -> np.ndarray:
    """(6 images, 8 repetitions, 3 channels, 5 times), images 0-2 shifted so that pairs differ."""
    data = np.random.default_rng(0).normal(size=(6, 8, 3, 5))
    data[:3] += 0.5
    return data


def _correlation_by_hand(data: np.ndarray) -> np.ndarray:
    """1 - Pearson between repetition-averaged channel patterns per time point, upper triangle row-major."""
    means = data.mean(axis=1)  # (images, channels, times)
    upper = np.triu_indices(data.shape[0], 1)
    return np.stack([(1 - np.corrcoef(means[:, :, t]))[upper] for t in range(data.shape[-1])])


def _entry(source, method, params):
    return ArrayCache("rdms").path(rdm_cache_key(source, method, params))


def test_flipped_bytes_in_an_rdm_entry_are_detected_and_recomputed(eeg, caplog):
    calls = []

    def compute():
        calls.append(1)
        return eeg_rdms(eeg, "correlation")

    expected = _correlation_by_hand(eeg)
    np.testing.assert_allclose(cached_rdms("src", "correlation", {}, compute), expected, atol=1e-12)
    entry = _entry("src", "correlation", {})
    raw = bytearray(entry.read_bytes())
    where = raw.find(compute().tobytes())  # the stored RDM values (calls == [1, 1] from here)
    assert where >= 0
    raw[where + 8 * 7 + 6] ^= 0x10  # one bit of one value's exponent: a quietly different number
    entry.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        again = cached_rdms("src", "correlation", {}, compute)
    assert calls == [1, 1, 1]  # recomputed, not served
    assert "damaged or stale" in caplog.text
    np.testing.assert_allclose(again, expected, atol=1e-12)
    np.testing.assert_array_equal(cached_rdms("src", "correlation", {}, compute), again)
    assert calls == [1, 1, 1]  # and the repaired entry is served afterwards


def test_rdm_cache_check_rejects_a_stale_entry(eeg):
    cached_rdms("src", "correlation", {}, lambda: eeg_rdms(eeg, "correlation"))

    def wants_21_pairs(rdms):  # e.g. a caller now expecting 7 images
        if rdms.shape[1] != 21:
            raise ValueError(f"{rdms.shape[1]} pairs, expected 21")

    with pytest.raises(ValueError, match="15 pairs, expected 21"):
        cached_rdms("src", "correlation", {}, lambda: eeg_rdms(eeg, "correlation"), check=wants_21_pairs)


def test_the_resolved_backend_is_in_the_key_even_when_params_do_not_name_it(eeg, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # 'auto' means numba on a CPU-only machine
    auto = rdm_cache_key("src", "decoding-svm", SVM)
    on_numba = rdm_cache_key("src", "decoding-svm", {**SVM, "backend": "numba"})
    torch_cpu = rdm_cache_key("src", "decoding-svm", {**SVM, "backend": "torch"})
    assert auto == on_numba != torch_cpu
    assert rdm_cache_parts("src", "decoding-svm", SVM)["backend"] == "numba"
    assert rdm_cache_key("src", "decoding-svm", {**SVM, "backend": "torch", "device": "cpu"}) == torch_cpu

    calls = []

    def compute(backend):
        def run():
            calls.append(backend)
            return eeg_rdms(eeg, "decoding-svm", **SVM, backend=backend)
        return run

    cached_rdms("src", "decoding-svm", SVM, compute("numba"))
    cached_rdms("src", "decoding-svm", {**SVM, "backend": "torch"}, compute("torch"))
    cached_rdms("src", "decoding-svm", {**SVM, "backend": "numba"}, compute("numba"))
    assert calls == ["numba", "torch"]  # torch computed its own; 'numba' named explicitly reuses 'auto'

    # a machine with CUDA: 'auto' now resolves to torch on the GPU and must not get the numba entry
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rdm_cache_key("src", "decoding-svm", SVM) == rdm_cache_key("src", "decoding-svm", {**SVM, "device": "cuda"})
    assert rdm_cache_key("src", "decoding-svm", SVM) not in (auto, torch_cpu)
    # an entry written by the C kernel (backend 'native', code version 1) is never served to the numba kernel
    assert rdm_cache_parts("src", "decoding-svm", SVM | {"backend": "numba"})["code_version"] >= 2


def test_code_version_is_in_the_key_and_a_bump_recomputes(eeg, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return eeg_rdms(eeg, "correlation")

    before = rdm_cache_key("src", "correlation", {})
    cached_rdms("src", "correlation", {}, compute)
    monkeypatch.setitem(rdm_cache.RDM_CODE_VERSIONS, "correlation", rdm_cache.RDM_CODE_VERSIONS["correlation"] + 1)
    assert rdm_cache_key("src", "correlation", {}) != before
    assert rdm_cache_key("src", "euclidean", {}) != rdm_cache_key("src", "correlation", {})
    cached_rdms("src", "correlation", {}, compute)
    assert calls == [1, 1]
    with pytest.raises(ValueError, match="method 'new-method' has no code version"):
        cached_rdms("src", "new-method", {}, compute)


def test_source_options_and_inputs_are_in_the_key():
    base = rdm_cache_key("a", "crossnobis", {})
    assert rdm_cache_key("b", "crossnobis", {}) != base
    precision = np.eye(3)
    changed = precision.copy()
    changed[1, 1] = 2.0
    assert rdm_cache_key("a", "crossnobis", {"noise_precision": precision}) != \
        rdm_cache_key("a", "crossnobis", {"noise_precision": changed})
    assert rdm_cache_key("a", "crossnobis", {}, inputs={"channels": ["O1", "Oz"]}) != \
        rdm_cache_key("a", "crossnobis", {}, inputs={"channels": ["O1", "O2"]})


def test_file_fingerprint_hashes_every_byte(tmp_path):
    path = tmp_path / "eeg.npy"
    payload = bytes(range(256)) * 4096
    path.write_bytes(payload)
    first = file_fingerprint(path)
    assert first == f"xxh3-128:{xxhash.xxh3_128(payload).hexdigest()}:{len(payload)}"
    changed = bytearray(payload)
    changed[len(payload) // 2] ^= 1  # same size, one bit in the middle
    path.write_bytes(bytes(changed))
    assert file_fingerprint(path) != first


def test_disabled_cache_always_computes(eeg):
    calls = []
    for _ in range(2):
        cached_rdms("src", "correlation", {}, lambda: calls.append(1) or eeg_rdms(eeg, "correlation"), enabled=False)
    assert calls == [1, 1]
