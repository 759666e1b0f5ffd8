"""The h5py reader/writer of pandas fixed-format HDF5 frames (THINGS-fMRI ResponseData files)."""
from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchmarks.datasets.errors import DatasetFormatError
from benchmarks.datasets.things_fmri.pandas_hdf import open_frame, write_frame


def write_and_open(path: Path, blocks, columns=None):
    write_frame(path, "ResponseData", blocks, columns)
    handle = h5py.File(path, "r")
    return handle, open_frame(handle, path)


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], ["a", "bb", "c", "d"]])
def test_round_trip_of_a_single_block(tmp_path, labels):
    values = np.random.default_rng(0).normal(size=(5, 4))
    handle, frame = write_and_open(tmp_path / "frame.h5", [(labels, values)])
    with handle:
        assert frame.columns == tuple(labels) and frame.n_rows == 5
        np.testing.assert_array_equal(frame.column(labels[2]), values[:, 2])
        dataset, positions = frame.block_holding([labels[3], labels[0]])
        np.testing.assert_array_equal(dataset[()][:, positions], values[:, [3, 0]])


def test_mixed_labels_are_pickled_like_pytables_and_read_back(tmp_path):
    values = np.arange(12.0).reshape(3, 4)
    handle, frame = write_and_open(tmp_path / "frame.h5", [([0, 1, 2, 3], values), (["voxel_id"], np.c_[[7, 8, 9]])],
                                   columns=["voxel_id", 0, 1, 2, 3])
    with handle:
        assert frame.columns == ("voxel_id", 0, 1, 2, 3)
        assert handle["ResponseData/axis0"].attrs["kind"] == b"object"
        assert handle["ResponseData/axis0"].attrs["CLASS"] == b"VLARRAY"
        np.testing.assert_array_equal(frame.column("voxel_id"), [7, 8, 9])
        with pytest.raises(DatasetFormatError, match="several dtype blocks"):
            frame.block_holding(["voxel_id", 0])
        with pytest.raises(DatasetFormatError, match=r"column\(s\) \['nope'\] not in the stored frame"):
            frame.block_holding(["nope"])


def test_written_attributes_follow_pytables_conventions(tmp_path):
    """pandas (through PyTables) decodes UTF-8 string attributes to str: 'encoding' must not come back as bytes."""
    write_frame(tmp_path / "frame.h5", "ResponseData", [([0, 1], np.zeros((2, 2)))])
    with h5py.File(tmp_path / "frame.h5") as handle:
        group = handle["ResponseData"]
        encoding_type = group.attrs.get_id("encoding").get_type()
        assert encoding_type.get_cset() == h5py.h5t.CSET_UTF8
        assert group.attrs["pandas_type"] == b"frame" and int(group.attrs["nblocks"]) == 1
        assert handle["ResponseData/axis0"].attrs.get_id("name").get_type().get_cset() == h5py.h5t.CSET_ASCII
        assert set(group) == {"axis0", "axis1", "block0_items", "block0_values"}


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickle_naming_other_globals_is_refused_without_running(tmp_path):
    path = tmp_path / "evil.h5"
    write_frame(path, "ResponseData", [(["a", 0], np.zeros((2, 2)))])
    marker = tmp_path / "pwned"
    payload = np.frombuffer(pickle.dumps(_Payload(marker)), dtype=np.uint8)
    with h5py.File(path, "r+") as handle:
        handle["ResponseData/axis0"][0] = payload
    with h5py.File(path, "r") as handle, pytest.raises(DatasetFormatError, match="refused to unpickle global 'pathlib"):
        open_frame(handle, path)
    assert not marker.exists()


def test_table_format_and_multi_index_are_reported(tmp_path):
    path = tmp_path / "frame.h5"
    write_frame(path, "ResponseData", [([0, 1], np.zeros((2, 2)))])
    with h5py.File(path, "r+") as handle:
        handle["ResponseData"].attrs["pandas_type"] = "frame_table"
    with h5py.File(path, "r") as handle, pytest.raises(DatasetFormatError, match="not a pandas fixed-format.*"
                                                                                   "format='fixed'"):
        open_frame(handle, path)
    write_frame(path, "ResponseData", [([0, 1], np.zeros((2, 2)))])
    with h5py.File(path, "r+") as handle:
        handle["ResponseData"].attrs["axis0_variety"] = "multi"
    with h5py.File(path, "r") as handle, pytest.raises(DatasetFormatError, match="axis0 is a multi index"):
        open_frame(handle, path)


def test_file_with_several_groups_needs_a_key(tmp_path):
    path = tmp_path / "frame.h5"
    write_frame(path, "ResponseData", [([0, 1], np.zeros((2, 2)))])
    with h5py.File(path, "r+") as handle:
        handle.create_group("other")
    with h5py.File(path, "r") as handle:
        with pytest.raises(DatasetFormatError, match="expected one stored DataFrame"):
            open_frame(handle, path)
        assert open_frame(handle, path, "ResponseData").n_rows == 2


def test_block_shape_disagreeing_with_its_items_is_reported(tmp_path):
    path = tmp_path / "frame.h5"
    write_frame(path, "ResponseData", [([0, 1, 2], np.zeros((2, 3)))])
    with h5py.File(path, "r+") as handle:
        del handle["ResponseData/block0_values"]
        handle["ResponseData"].create_dataset("block0_values", data=np.zeros((2, 2)))
    with h5py.File(path, "r") as handle, pytest.raises(DatasetFormatError, match=r"block0_values has shape \(2, 2\), "
                                                                                   r"expected \(2, 3\)"):
        open_frame(handle, path)
