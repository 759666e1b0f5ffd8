"""Shen 2019 loader on synthetic BData files: values, labels, ROIs and every validation."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from benchmarks.datasets.errors import DatasetFormatError, DatasetNotFoundError
from benchmarks.datasets.shen2019 import data as shen
from benchmarks.datasets.shen2019.bdata import read_bdata, write_bdata
from benchmarks.datasets.shen2019.synth import write_synthetic_shen2019


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_synthetic_shen2019(tmp_path_factory.mktemp("synth") / "shen2019")


@pytest.fixture
def copy(written, tmp_path) -> Path:
    return Path(shutil.copytree(written.root, tmp_path / "shen2019"))


def load(root, **kwargs):
    return shen.load_shen2019(root, progress=False, **kwargs)


def bdata_file(root: Path, subject: str) -> Path:
    return root / shen.FILE_PATTERN.format(subject=subject)


def rewrite(root: Path, subject: str, edit) -> None:
    """Let ``edit`` return a changed copy of a subject's BData (dataclasses.replace), then write it back."""
    path = bdata_file(root, subject)
    changed = edit(read_bdata(path))
    write_bdata(path, changed.dataset, changed.keys, changed.descriptions, changed.values, changed.vmap)


def set_metadata(bdata, key: str, row: np.ndarray):
    values = bdata.values.copy()
    values[bdata.keys.index(key)] = row
    return dataclasses.replace(bdata, values=values)


def drop_key(bdata, key: str):
    index = bdata.keys.index(key)
    keep = [i for i in range(len(bdata.keys)) if i != index]
    return dataclasses.replace(bdata, keys=tuple(bdata.keys[i] for i in keep),
                               descriptions=tuple(bdata.descriptions[i] for i in keep), values=bdata.values[keep])


def rename_key(bdata, old: str, new: str):
    return dataclasses.replace(bdata, keys=tuple(new if key == old else key for key in bdata.keys))


# ---------------------------------------------------------------------------------------------------------------
# values


def test_patterns_are_the_exact_repetition_means(written):
    loaded = load(written.root)
    assert loaded.subjects == ("sub-01", "sub-02", "sub-03") and loaded.rois == ("V1", "V2", "V3", "V4", "HVC")
    assert loaded.stimulus_ids == written.stimulus_ids == tuple(sorted(written.stimulus_ids))
    assert loaded.image_paths == written.image_paths
    assert loaded.stimulus_metadata["synset"][0] == written.stimulus_ids[0].split("_")[0]
    for subject in loaded.subjects:
        np.testing.assert_array_equal(loaded.n_repetitions[subject], 3)
        for roi in loaded.rois:
            np.testing.assert_allclose(loaded.pattern(subject, roi), written.expected[subject][roi], rtol=1e-12)
    assert loaded.pattern("sub-01", "HVC").shape == (10, 14)


def test_stimulus_id_codes_give_the_same_rows_as_the_vmap(written):
    by_name = load(written.root, subjects=("02",))
    by_code = load(written.root, subjects=("02",), label_key="stimulus_id")
    assert by_code.stimulus_ids == by_name.stimulus_ids
    np.testing.assert_array_equal(by_code.pattern("sub-02", "V3"), by_name.pattern("sub-02", "V3"))


@pytest.mark.parametrize("code, name", [(1518878.005958, "n01518878_5958"), (1443537.022563, "n01443537_22563"),
                                        (4254680.000001, "n04254680_1")])
def test_stimulus_id_decoding(code, name):
    assert shen.stimulus_name_from_id(code) == name


def test_planted_structure_survives_averaging(written):
    loaded = load(written.root, subjects=("01",), rois=("HVC",))
    measured = pdist(loaded.pattern("sub-01", "HVC"), "correlation")
    planted = pdist(written.true_patterns["sub-01"]["HVC"], "correlation")
    assert spearmanr(measured, planted)[0] > 0.8


def test_stimulus_set(written):
    stimulus_set = load(written.root, subjects=("01",), rois=("V1",)).stimulus_set()
    assert list(stimulus_set["stimulus_id"]) == list(written.stimulus_ids)
    first = written.stimulus_ids[0]
    assert stimulus_set.get_stimulus(first) == written.root / "images" / "test" / f"{first}.JPEG"
    assert stimulus_set.identifier.startswith("shen2019_")


def test_legacy_dataset_and_metadata_names_are_read(copy, written):
    with h5py.File(bdata_file(copy, "01"), "r+") as handle:
        handle.move("dataset", "dataSet")
        handle.move("metadata", "metaData")
    np.testing.assert_allclose(load(copy, subjects=("01",)).pattern("sub-01", "V2"), written.expected["sub-01"]["V2"],
                               rtol=1e-12)


def test_data_type_selects_samples(copy):
    def mark_first_run_as_imagery(bdata):
        dataset = bdata.dataset.copy()
        run = bdata.label_column("Run")
        dataset[run == 1, np.flatnonzero(bdata.columns("DataType"))[0]] = 3.0
        return dataclasses.replace(bdata, dataset=dataset)

    for subject in ("01", "02", "03"):
        rewrite(copy, subject, mark_first_run_as_imagery)
    loaded = load(copy, data_type=2)
    np.testing.assert_array_equal(loaded.n_repetitions["sub-01"], 2)
    with pytest.raises(DatasetFormatError, match="no samples with DataType == 7"):
        load(copy, data_type=7)


# ---------------------------------------------------------------------------------------------------------------
# ROIs and labels


def test_v4_falls_back_to_roi_hv4(copy, written):
    for subject in ("01", "02", "03"):
        rewrite(copy, subject, lambda bdata: rename_key(bdata, "ROI_V4", "ROI_hV4"))
    np.testing.assert_allclose(load(copy).pattern("sub-03", "V4"), written.expected["sub-03"]["V4"], rtol=1e-12)


def test_missing_roi_key_lists_available_rois(copy):
    rewrite(copy, "02", lambda bdata: drop_key(bdata, "ROI_HVC"))
    with pytest.raises(DatasetFormatError, match=r"sub-02_perceptionNaturalImageTest_original_VC\.h5: ROI HVC needs "
                                                  r"metadata key ROI_HVC; available ROI keys: ROI_V1, ROI_V2"):
        load(copy)


def test_other_rois_by_name_or_mapping(written):
    loaded = load(written.root, subjects=("01",), rois=["LOC", "ROI_FFA"])
    assert loaded.rois == ("LOC", "ROI_FFA") and loaded.pattern("sub-01", "LOC").shape == (10, 4)
    mapped = load(written.root, subjects=("01",), rois={"early": ["ROI_LVC"]})
    assert mapped.pattern("sub-01", "early").shape == (10, 21)


def test_roi_marking_label_columns_is_rejected(copy):
    def leak(bdata):
        row = bdata.metadata("ROI_V1").copy()
        row[np.flatnonzero(bdata.columns("Run"))] = 1.0
        return set_metadata(bdata, "ROI_V1", row)

    rewrite(copy, "01", leak)
    with pytest.raises(DatasetFormatError, match=r"ROI V1 \(ROI_V1\) marks 1 columns that are not VoxelData"):
        load(copy)


def test_empty_roi_is_rejected(copy):
    rewrite(copy, "01", lambda bdata: set_metadata(bdata, "ROI_V3", np.zeros(bdata.values.shape[1])))
    with pytest.raises(DatasetFormatError, match=r"ROI V3 \(ROI_V3\) marks no column"):
        load(copy)


def test_stimulus_name_without_vmap_falls_back_to_stimulus_id(copy, written):
    rewrite(copy, "01", lambda bdata: dataclasses.replace(bdata, vmap={}))
    np.testing.assert_allclose(load(copy).pattern("sub-01", "V1"), written.expected["sub-01"]["V1"], rtol=1e-12)


def test_no_label_key_is_explained(copy):
    rewrite(copy, "01", lambda bdata: drop_key(dataclasses.replace(bdata, vmap={}), "stimulus_id"))
    with pytest.raises(DatasetFormatError, match="cannot name the images: expected metadata key stimulus_name"):
        load(copy)


def test_label_without_vmap_cannot_name_images(written):
    with pytest.raises(DatasetFormatError, match="label 'image_index' has no vmap to name the images"):
        load(written.root, label_key="image_index")


def test_vmap_without_a_value_is_rejected(copy):
    def shrink(bdata):
        names = dict(bdata.vmap["stimulus_name"])
        names.pop(3.0)
        return dataclasses.replace(bdata, vmap={"stimulus_name": names})

    rewrite(copy, "03", shrink)
    with pytest.raises(DatasetFormatError, match=r"vmap of 'stimulus_name' has no name for values \[3\.0\]"):
        load(copy)


# ---------------------------------------------------------------------------------------------------------------
# validation


def test_nan_voxel_raises_or_is_dropped(copy):
    def poison(bdata):
        dataset = bdata.dataset.copy()
        dataset[4, np.flatnonzero(bdata.columns("ROI_V2"))[1]] = np.nan
        return dataclasses.replace(bdata, dataset=dataset)

    rewrite(copy, "02", poison)
    with pytest.raises(DatasetFormatError, match=r"sub-02.*ROI V2 \(ROI_V2\): 1 of 7 voxels have NaN"):
        load(copy)
    assert load(copy, nan_policy="drop_voxels").pattern("sub-02", "V2").shape == (10, 6)


def test_unequal_repetitions_raise_unless_allowed(copy, written):
    def relabel_one_sample(bdata):
        dataset = bdata.dataset.copy()
        names = bdata.label_column("stimulus_name")
        codes = bdata.label_column("stimulus_id")
        first_of_image_2 = int(np.flatnonzero(names == 2.0)[0])
        code_of_image_1 = codes[names == 1.0][0]
        dataset[first_of_image_2, np.flatnonzero(bdata.columns("stimulus_name"))[0]] = 1.0
        dataset[first_of_image_2, np.flatnonzero(bdata.columns("stimulus_id"))[0]] = code_of_image_1
        return dataclasses.replace(bdata, dataset=dataset)

    rewrite(copy, "01", relabel_one_sample)
    with pytest.raises(DatasetFormatError, match="not repeated equally often"):
        load(copy)
    loaded = load(copy, require_equal_repetitions=False)
    counts = dict(zip(loaded.stimulus_ids, loaded.n_repetitions["sub-01"]))
    assert counts[written.stimulus_ids[0]] == 4 and counts[written.stimulus_ids[1]] == 2


def test_different_images_across_subjects_are_rejected(copy, written):
    def rename_image(bdata):
        names = dict(bdata.vmap["stimulus_name"])
        names[1.0] = "n09999999_1"
        return dataclasses.replace(bdata, vmap={"stimulus_name": names})

    rewrite(copy, "03", rename_image)
    with pytest.raises(DatasetFormatError, match=rf"sub-03 and sub-01 saw different test images \(only in sub-01: "
                                                  rf"{written.stimulus_ids[0]}; only in sub-03: n09999999_1\)"):
        load(copy)


def test_missing_file_is_named(copy):
    bdata_file(copy, "02").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"test fMRI of sub-02: .*sub-02_perceptionNaturalImageTest"):
        load(copy)


@pytest.mark.parametrize("damage, message", [
    (lambda handle: handle.__delitem__("metadata/value"), r"/metadata lacks value"),
    (lambda handle: handle.__delitem__("dataset"), r"not a BData file: expected /dataset"),
    (lambda handle: (handle.__delitem__("metadata/value"),
                     handle.create_dataset("metadata/value", data=np.zeros((3, 3)))), r"/metadata/value has shape"),
])
def test_broken_bdata_structure_is_named(copy, damage, message):
    with h5py.File(bdata_file(copy, "01"), "r+") as handle:
        damage(handle)
    with pytest.raises(DatasetFormatError, match=r"sub-01_perceptionNaturalImageTest_original_VC\.h5: " + message):
        load(copy)


def test_not_hdf5_and_duplicate_keys(copy):
    bdata_file(copy, "01").write_bytes(b"plain text")
    with pytest.raises(DatasetFormatError, match="not a readable HDF5 file"):
        load(copy)
    rewrite(copy, "02", lambda bdata: rename_key(bdata, "ROI_LOC", "ROI_FFA"))
    with pytest.raises(DatasetFormatError, match=r"duplicate metadata keys \['ROI_FFA'\]"):
        load(copy, subjects=("02",))


def test_missing_image_is_listed_and_other_extensions_are_found(copy, written):
    first = written.stimulus_ids[0]
    image = copy / "images" / "test" / f"{first}.JPEG"
    image.rename(image.with_suffix(".png"))
    assert load(copy, subjects=("01",), rois=("V1",)).image_paths[0] == image.with_suffix(".png")
    image.with_suffix(".png").unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"1 of 10 stimulus images are missing .*{first}\.JPEG"):
        load(copy)


def test_two_images_sharing_a_name_stem_are_refused(copy):
    def same_stem(bdata):  # image 3 renamed to image 2's stem with another extension: its samples would average in
        names = dict(bdata.vmap["stimulus_name"])
        names[3.0] = str(Path(names[2.0]).with_suffix(".png"))
        return dataclasses.replace(bdata, vmap={"stimulus_name": names})

    rewrite(copy, "01", same_stem)
    with pytest.raises(DatasetFormatError, match=r"images \[.*\] share the stimulus id '.*' \(the name without "
                                                  r"extension\)"):
        load(copy)
