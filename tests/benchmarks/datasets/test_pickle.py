"""The one restricted unpickler (benchmarks/datasets/_pickle.py): numpy saves read like numpy, anything outside the
caller's allow-list refused before it runs, each caller's list applied as given."""
from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets._pickle import (
    NUMPY_ARRAY_GLOBALS,
    UnsafePickleError,
    restricted_loads,
    safe_load_npy,
    safe_load_npy_dict,
)
from benchmarks.datasets.errors import DatasetError, DatasetFormatError

NUMPY = NUMPY_ARRAY_GLOBALS


def reference_load(path: Path):
    """np.load with pickles allowed: only for comparing against, in tests."""
    return np.load(path, allow_pickle=True).item()


class MarkerPayload:
    """Unpickling this runs os.system and would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class EvalPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


class ArbitraryClass:
    """A plain class: its pickle names tests' module global, which must be refused too."""

    def __init__(self):
        self.value = 1



def test_safe_loader_reads_real_metadata_like_numpy(real_metadata_path):
    ours = safe_load_npy_dict(real_metadata_path, allowed=NUMPY)
    reference = reference_load(real_metadata_path)
    assert ours == reference
    assert {key: type(value) for key, value in ours.items()} == {key: type(value) for key, value in reference.items()}
    assert len(ours["train_img_files"]) == 16540 and len(ours["test_img_files"]) == 200


@pytest.mark.parametrize("payload", [MarkerPayload, EvalPayload], ids=["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.npy"
    np.save(path, {"preprocessed_eeg_data": payload(marker)}, allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="refused to unpickle global") as error:
        safe_load_npy(path, allowed=NUMPY)
    assert str(path) in str(error.value)
    assert "system" in str(error.value) or "eval" in str(error.value)
    assert not marker.exists()
    # control: the payload is live, numpy would run it
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_arbitrary_class_is_refused(tmp_path):
    path = tmp_path / "class.npy"
    np.save(path, {"x": ArbitraryClass()}, allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="ArbitraryClass"):
        safe_load_npy_dict(path, allowed=NUMPY)


def test_safe_loader_handles_plain_arrays_scalars_and_bad_files(tmp_path):
    plain = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "plain.npy", plain)
    np.testing.assert_array_equal(safe_load_npy(tmp_path / "plain.npy", allowed=NUMPY), plain)

    content = {"a": np.float32(1.5), "b": [1, "x", (2.0, None)], "c": np.arange(3, dtype=np.int16), "d": True}
    np.save(tmp_path / "mixed.npy", content, allow_pickle=True)
    loaded = safe_load_npy_dict(tmp_path / "mixed.npy", allowed=NUMPY)
    assert loaded["a"] == np.float32(1.5) and type(loaded["a"]) is np.float32
    assert loaded["b"] == [1, "x", (2.0, None)] and loaded["d"] is True
    np.testing.assert_array_equal(loaded["c"], content["c"])
    assert loaded["c"].dtype == np.int16

    with pytest.raises(ValueError, match="expected a saved dict"):
        safe_load_npy_dict(tmp_path / "plain.npy", allowed=NUMPY)
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="not a valid .npy"):
        safe_load_npy(tmp_path / "text.npy", allowed=NUMPY)
    truncated = (tmp_path / "mixed.npy").read_bytes()[:-20]
    (tmp_path / "truncated.npy").write_bytes(truncated)
    with pytest.raises(pickle.UnpicklingError, match="truncated.npy"):
        safe_load_npy(tmp_path / "truncated.npy", allowed=NUMPY)


def test_refusal_is_a_dataset_format_error_and_an_unpickling_error(tmp_path):
    """Callers catching either family (dataset errors, pickle errors, ValueError) see the refusal."""
    path = tmp_path / "evil.npy"
    np.save(path, {"x": MarkerPayload(tmp_path / "marker")}, allow_pickle=True)
    with pytest.raises(UnsafePickleError) as error:
        safe_load_npy_dict(path, allowed=NUMPY)
    assert isinstance(error.value, DatasetFormatError) and isinstance(error.value, DatasetError)
    assert isinstance(error.value, pickle.UnpicklingError) and isinstance(error.value, ValueError)
    assert "posix.system" in str(error.value) or "os.system" in str(error.value)


def test_each_callers_allow_list_is_applied_as_given():
    """The same bytes load under a list that names their globals and are refused under one that does not."""
    array = np.arange(5, dtype=np.int64)
    data = pickle.dumps(array, protocol=3)  # as np.save writes it
    np.testing.assert_array_equal(restricted_loads(data, "array", allowed=NUMPY), array)
    with pytest.raises(UnsafePickleError, match=r"array: refused to unpickle global 'numpy\.(_)?core\.multiarray\."
                                                r"_reconstruct' \(admitted globals: none;"):
        restricted_loads(data, "array", allowed={})
    ordered = pickle.dumps(OrderedDict(a=1, b=[2, 3]))
    with pytest.raises(UnsafePickleError, match="refused to unpickle global 'collections.OrderedDict'"):
        restricted_loads(ordered, "ordered", allowed=NUMPY)
    loaded = restricted_loads(ordered, "ordered", allowed={("collections", "OrderedDict"): OrderedDict})
    assert type(loaded) is OrderedDict and loaded == OrderedDict(a=1, b=[2, 3])
    plain = {"a": (1, 2.5, None), "b": [b"x", "y", True]}  # containers and plain values need no globals at all
    assert restricted_loads(pickle.dumps(plain), "plain", allowed={}) == plain


def test_persistent_ids_and_garbage_are_refused():
    buffer = io.BytesIO()

    class WithPersistentId(pickle.Pickler):
        def persistent_id(self, obj):
            return "external" if obj == "ref" else None

    WithPersistentId(buffer, protocol=2).dump(["ref"])
    with pytest.raises(UnsafePickleError, match="refused persistent id 'external'"):
        restricted_loads(buffer.getvalue(), "pid", allowed=NUMPY)
    with pytest.raises(UnsafePickleError, match=r"garbage: cannot read its pickled content"):
        restricted_loads(b"\x80\x02not a pickle", "garbage", allowed=NUMPY)
