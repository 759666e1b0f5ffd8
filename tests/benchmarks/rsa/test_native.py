"""The C kernel's build, cache and the fallbacks when no compiler exists."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.rsa import _native, draw_plan, lda_decoding_rdms, svm_decoding_rdms, to_rsatoolbox


@pytest.fixture
def no_compiler(monkeypatch):
    monkeypatch.setattr(_native, "_loaded", {})
    monkeypatch.setattr(_native, "_failure", [])
    monkeypatch.setattr(_native, "_compiler", lambda: None)


def test_kernel_is_built_into_the_cache_once(realnet_home, monkeypatch):
    monkeypatch.setattr(_native, "_loaded", {})
    monkeypatch.setattr(_native, "_failure", [])
    library = _native.native_kernels()
    assert library is not None, _native.native_unavailable_reason()
    built = list((realnet_home / "cache" / "kernels").glob("rsa_kernels_*.so"))
    assert len(built) == 1
    assert _native.native_kernels() is library
    leftovers = [p for p in built[0].parent.iterdir() if p != built[0]]
    assert leftovers == []  # built in a scratch folder, moved into place


def test_without_a_compiler_auto_falls_back_to_torch(no_compiler, small_eeg):
    options = dict(navg=2, n_folds=3, n_repeats=1, seed=0)
    with pytest.warns(RuntimeWarning, match="C decoding kernel is unavailable .no C compiler"):
        fallback = lda_decoding_rdms(small_eeg, **options)
    assert fallback.shape == (7, 10)
    with pytest.raises(RuntimeError, match="backend='native' is unavailable: no C compiler"):
        svm_decoding_rdms(small_eeg, backend="native", **options)


def test_a_failing_compiler_is_reported(monkeypatch, small_eeg, tmp_path):
    script = tmp_path / "broken-cc"
    script.write_text("#!/bin/sh\necho 'cc: fatal error: no input files' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setattr(_native, "_loaded", {})
    monkeypatch.setattr(_native, "_failure", [])
    monkeypatch.setattr(_native, "_compiler", lambda: str(script))
    assert _native.native_kernels() is None
    assert "failed" in _native.native_unavailable_reason() and "no input files" in _native.native_unavailable_reason()


def test_to_rsatoolbox_carries_descriptors():
    rdms = np.random.default_rng(0).random((3, 10))
    converted = to_rsatoolbox(rdms, measure="decoding accuracy", rdm_descriptors={"time": [0.0, 0.01, 0.02]},
                              pattern_descriptors={"image": list("abcde")})
    np.testing.assert_array_equal(converted.get_vectors(), rdms)
    assert converted.dissimilarity_measure == "decoding accuracy"
    assert converted.rdm_descriptors["time"] == [0.0, 0.01, 0.02]
    assert converted.pattern_descriptors["image"] == list("abcde")
    with pytest.raises(ValueError, match="rdm descriptor 'time' has 2 values for 3 RDMs"):
        to_rsatoolbox(rdms, rdm_descriptors={"time": [0, 1]})
    with pytest.raises(ValueError, match="pattern descriptor 'image' has 4 values for 5 images"):
        to_rsatoolbox(rdms, pattern_descriptors={"image": list("abcd")})
    with pytest.raises(ValueError, match="rdms has 9 entries per RDM"):
        to_rsatoolbox(rdms[:, :9])


def test_fold_draws_are_identical_without_the_kernel(monkeypatch):
    from benchmarks.rsa.decoding_plan import draw_folds_numpy

    library = _native.native_kernels()
    native = _native.run_draw_folds(library, 2**63 + 12345, 40, 9, 3, 4, 7, 3)
    np.testing.assert_array_equal(native, draw_folds_numpy(2**63 + 12345, 40, 9, 3, 4, 7, 3))
    assert np.all(np.sort(native, axis=-1) == np.array([0, 0, 0, 1, 1, 2, 2]))  # stratified: 7 = 3 + 2 + 2
    with_kernel = draw_plan(12, 10, 4, navg=2, n_folds=3, n_repeats=2, seed=8)
    monkeypatch.setattr(_native, "native_kernels", lambda: None)
    without = draw_plan(12, 10, 4, navg=2, n_folds=3, n_repeats=2, seed=8)
    np.testing.assert_array_equal(with_kernel.fold_of, without.fold_of)
    np.testing.assert_array_equal(with_kernel.trial_order, without.trial_order)
