"""THINGS-fMRI loader on synthetic data in the official table format: values, ROIs, cache and every validation."""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from benchmarks.datasets.errors import DatasetFormatError, DatasetNotFoundError
from benchmarks.datasets.things_fmri import data as things
from benchmarks.datasets.things_fmri.pandas_hdf import open_frame, write_frame
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Caches go to a per-test REALNET_HOME."""
    monkeypatch.setenv("REALNET_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_synthetic_things_fmri(tmp_path_factory.mktemp("synth") / "things-fmri")


@pytest.fixture
def copy(written, tmp_path) -> Path:
    return Path(shutil.copytree(written.root, tmp_path / "things-fmri"))


def load(root, **kwargs):
    return things.load_things_fmri(root, progress=False, **kwargs)


def betas(root: Path, subject: str, kind: str) -> Path:
    return things.subject_files(root, subject)[kind]


def rewrite_responses(root: Path, subject: str, edit) -> None:
    """Read a subject's (n_voxels, n_trials) responses, let ``edit`` change them, write the file again."""
    path = betas(root, subject, "ResponseData")
    with h5py.File(path) as handle:
        frame = open_frame(handle, path)
        labels = [c for c in frame.columns if c != "voxel_id"]
        values, positions = frame.block_holding(labels)
        responses = values[()][:, positions]
        voxel_ids = frame.column("voxel_id")
    responses = edit(responses)
    trials = list(range(responses.shape[1]))
    write_frame(path, "ResponseData", [(trials, responses), (["voxel_id"], voxel_ids[:, None])],
                columns=["voxel_id", *trials])


def edit_csv(path: Path, edit) -> None:
    table = pd.read_csv(path)
    edit(table).to_csv(path, index=False)


# ---------------------------------------------------------------------------------------------------------------
# values


def test_patterns_are_the_exact_repetition_means(written):
    loaded = load(written.root)
    assert loaded.subjects == ("sub-01", "sub-02", "sub-03")
    assert loaded.rois == tuple(things.DEFAULT_ROIS)
    assert loaded.stimulus_ids == written.stimulus_ids == tuple(sorted(written.stimulus_ids))
    assert loaded.image_paths == written.image_paths
    assert loaded.stimulus_metadata["concept"] == written.concepts
    for subject in loaded.subjects:
        np.testing.assert_array_equal(loaded.n_repetitions[subject], 3)
        for roi in loaded.rois:
            np.testing.assert_allclose(loaded.pattern(subject, roi), written.expected[subject][roi],
                                       rtol=1e-12, atol=1e-12)
    assert loaded.pattern("sub-02", "FFA").shape == (12, 6)  # lFFA + rFFA
    assert loaded.pattern("sub-02", "IT").shape == (12, 22)


def test_planted_structure_survives_averaging(written):
    loaded = load(written.root, subjects=("01",), rois=("IT",))
    measured = pdist(loaded.pattern("sub-01", "IT"), "correlation")
    planted = pdist(written.true_patterns["sub-01"]["IT"], "correlation")
    assert spearmanr(measured, planted)[0] > 0.8


def test_float32_files_and_small_read_blocks_give_the_same_means(tmp_path, monkeypatch):
    written = write_synthetic_things_fmri(tmp_path / "f32", n_subjects=1, value_dtype=np.float32, seed=5)
    monkeypatch.setattr(things, "READ_BLOCK_BYTES", 3 * 40 * 4)  # 3 voxel rows per read: many blocks, some skipped
    loaded = load(written.root, subjects=("01",), cache=False)
    for roi in loaded.rois:
        np.testing.assert_allclose(loaded.pattern("sub-01", roi), written.expected["sub-01"][roi], rtol=1e-6)


def test_default_root_comes_from_realnet_data_dir(written, monkeypatch, tmp_path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "things-fmri").symlink_to(written.root)
    monkeypatch.setenv("REALNET_DATA_DIR", str(data_root))
    assert things.load_things_fmri(subjects=("01",), rois=("V1",), progress=False).n_images == 12


def test_missing_root_explains_where_data_is_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("REALNET_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="things-fmri data folder not found.*REALNET_DATA_DIR"):
        things.load_things_fmri(progress=False)


def test_stimulus_set_and_stimuli_follow_pattern_rows(written):
    loaded = load(written.root, subjects=("01",), rois=("V1",))
    stimulus_set = loaded.stimulus_set()
    assert list(stimulus_set["stimulus_id"]) == list(loaded.stimulus_ids)
    assert list(stimulus_set["concept"]) == list(written.concepts)
    assert stimulus_set.get_stimulus("candelabra_02s") == written.root / "images" / "candelabra" / "candelabra_02s.jpg"
    assert stimulus_set.identifier.startswith("things_fmri_")
    assert loaded.stimuli().ids == loaded.stimulus_ids
    with pytest.raises(KeyError, match="unknown ROI 'FFA'"):
        loaded.pattern("sub-01", "FFA")


# ---------------------------------------------------------------------------------------------------------------
# ROIs


def test_roi_names_and_mappings(written):
    loaded = load(written.root, subjects=("01",), rois={"ventral": ["lFFA", "lPPA"], "V1": ["V1"]})
    assert loaded.rois == ("ventral", "V1")
    assert loaded.pattern("sub-01", "ventral").shape == (12, 6)
    assert things.resolve_rois(["FFA", "VO1"], ["V1", "lFFA", "rFFA", "VO1"]) == {"FFA": ("lFFA", "rFFA"),
                                                                                  "VO1": ("VO1",)}


def test_unknown_roi_lists_the_available_columns(written):
    with pytest.raises(DatasetFormatError, match=r"ROI MT needs column\(s\) MT.*available ROI columns: V1, V2, .*IT "
                                                  r"and 2 glasser-\* parcels"):
        load(written.root, rois=("MT",))


def test_missing_roi_column_is_named(copy):
    edit_csv(betas(copy, "02", "VoxelMetadata"), lambda table: table.drop(columns=["hV4"]))
    with pytest.raises(DatasetFormatError, match=r"sub-02_VoxelMetadata\.csv: ROI hV4 needs column\(s\) hV4"):
        load(copy)


def test_empty_roi_is_rejected(copy):
    def clear(table):
        table["V3"] = 0
        return table

    edit_csv(betas(copy, "01", "VoxelMetadata"), clear)
    with pytest.raises(DatasetFormatError, match="ROI V3 .*contains no voxel"):
        load(copy)


# ---------------------------------------------------------------------------------------------------------------
# validation


def test_missing_file_is_named(copy):
    betas(copy, "03", "VoxelMetadata").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"VoxelMetadata of sub-03: .*sub-03_VoxelMetadata\.csv"):
        load(copy)


def test_missing_stimulus_column_is_named(copy):
    edit_csv(betas(copy, "01", "StimulusMetadata"), lambda table: table.drop(columns=["concept"]))
    with pytest.raises(DatasetFormatError, match=r"sub-01_StimulusMetadata\.csv: missing column\(s\) concept"):
        load(copy)


def test_trial_count_mismatch_is_rejected(copy, written):
    edit_csv(betas(copy, "02", "StimulusMetadata"), lambda table: table.iloc[:-1])
    n = written.n_trials["sub-02"]
    with pytest.raises(DatasetFormatError, match=rf"sub-02_ResponseData\.h5: {n} trial columns, but the "
                                                  rf"StimulusMetadata of sub-02 lists {n - 1} trials"):
        load(copy)


def test_voxel_count_mismatch_is_rejected(copy):
    edit_csv(betas(copy, "01", "VoxelMetadata"), lambda table: table.iloc[:-1])
    with pytest.raises(DatasetFormatError, match=r"sub-01_ResponseData\.h5: 48 voxel rows, but the VoxelMetadata of "
                                                  r"sub-01 lists 47 voxels"):
        load(copy)


def test_voxel_order_mismatch_is_rejected(copy):
    def reverse_ids(table):
        table["voxel_id"] = table["voxel_id"].to_numpy()[::-1]
        return table

    edit_csv(betas(copy, "01", "VoxelMetadata"), reverse_ids)
    with pytest.raises(DatasetFormatError, match="voxel_id of row 0 is 0, VoxelMetadata says 47"):
        load(copy)


def test_nan_responses_raise_or_drop_voxels(copy):
    stimulus = pd.read_csv(betas(copy, "01", "StimulusMetadata"))
    first_test = int(np.flatnonzero(stimulus["trial_type"] == "test")[0])

    def poison(responses):
        responses[2, first_test] = np.nan  # voxel 2 is in V1
        return responses

    rewrite_responses(copy, "01", poison)
    with pytest.raises(DatasetFormatError, match=r"sub-01_ResponseData\.h5: ROI V1: 1 of 6 voxels have NaN"):
        load(copy)
    loaded = load(copy, nan_policy="drop_voxels")
    assert loaded.pattern("sub-01", "V1").shape == (12, 5) and loaded.pattern("sub-02", "V1").shape == (12, 6)


def test_nan_in_train_trials_is_irrelevant(copy, written):
    stimulus = pd.read_csv(betas(copy, "01", "StimulusMetadata"))
    train = np.flatnonzero(stimulus["trial_type"] == "train")

    def poison(responses):
        responses[:, train] = np.nan
        return responses

    rewrite_responses(copy, "01", poison)
    np.testing.assert_allclose(load(copy).pattern("sub-01", "V2"), written.expected["sub-01"]["V2"], rtol=1e-12)


def test_missing_images_are_listed(copy):
    (copy / "images" / "dog" / "dog_02s.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 of 12 stimulus images are missing .*dog/dog_02s\.jpg"):
        load(copy)


def test_flat_image_folder_is_accepted(copy, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (copy / "images").glob("*/*.jpg"):
        shutil.copyfile(path, flat / path.name)
    loaded = load(copy, subjects=("01",), rois=("V1",), images_dir=flat)
    assert loaded.image_paths[0] == flat / "aardvark_01s.jpg"


def test_different_test_images_across_subjects_are_rejected(copy):
    def rename(table):
        table.loc[table["stimulus"] == "mango_03s.jpg", "stimulus"] = "mango_09s.jpg"
        return table

    edit_csv(betas(copy, "02", "StimulusMetadata"), rename)
    with pytest.raises(DatasetFormatError, match=r"sub-02 and sub-01 saw different test images \(only in sub-01: "
                                                  r"mango_03s; only in sub-02: mango_09s\)"):
        load(copy)


def test_unequal_repetitions_raise_unless_allowed(copy, written):
    def move_one_trial(table):
        test_rows = table.index[table["stimulus"] == "dog_01s.jpg"]
        table.loc[test_rows[0], "stimulus"] = "dog_02s.jpg"
        return table

    edit_csv(betas(copy, "01", "StimulusMetadata"), move_one_trial)
    with pytest.raises(DatasetFormatError, match=r"not repeated equally often .*dog_01s \(2\), dog_02s \(4\)"):
        load(copy)
    loaded = load(copy, require_equal_repetitions=False)
    counts = dict(zip(loaded.stimulus_ids, loaded.n_repetitions["sub-01"]))
    assert counts["dog_01s"] == 2 and counts["dog_02s"] == 4 and counts["mango_01s"] == 3


def test_a_response_file_that_is_not_hdf5_is_named(copy):
    betas(copy, "01", "ResponseData").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetFormatError, match=r"sub-01_ResponseData\.h5: not a readable HDF5 file"):
        load(copy)


# ---------------------------------------------------------------------------------------------------------------
# cache


def test_second_load_reads_the_cache_and_a_changed_file_invalidates_it(copy, monkeypatch):
    first = load(copy, subjects=("01",))
    calls = []
    original = things._read_test_means
    monkeypatch.setattr(things, "_read_test_means", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = load(copy, subjects=("01",))
    assert calls == []
    np.testing.assert_array_equal(again.pattern("sub-01", "IT"), first.pattern("sub-01", "IT"))

    rewrite_responses(copy, "01", lambda responses: responses + 1.0)
    changed = load(copy, subjects=("01",))
    assert calls == [1]
    np.testing.assert_allclose(changed.pattern("sub-01", "IT"), first.pattern("sub-01", "IT") + 1.0, rtol=1e-12)
    assert not list((Path(things.cache_dir(things.DATASET))).glob(".*tmp*"))


def test_layout_checks_run_even_when_the_cache_holds_the_means(copy):
    load(copy, subjects=("01",))  # fills the cache
    edit_csv(betas(copy, "01", "StimulusMetadata"), lambda table: table.iloc[:-1])
    with pytest.raises(DatasetFormatError, match="trial columns, but the StimulusMetadata of sub-01"):
        load(copy, subjects=("01",))


def test_two_test_images_sharing_a_file_stem_are_refused(copy):
    def rename(table):  # another file, same stem as dog_01s.jpg: its trials would average into dog_01s
        table.loc[table["stimulus"] == "dog_02s.jpg", "stimulus"] = "dog_01s.png"
        return table

    for subject in ("01", "02"):
        edit_csv(betas(copy, subject, "StimulusMetadata"), rename)
    shutil.copyfile(copy / "images" / "dog" / "dog_02s.jpg", copy / "images" / "dog" / "dog_01s.png")
    with pytest.raises(DatasetFormatError, match=r"test images \['dog_01s\.jpg', 'dog_01s\.png'\] share the stimulus "
                                                  r"id 'dog_01s'"):
        load(copy, require_equal_repetitions=False)


def test_the_benchmark_passes_the_loaders_data_policies(copy):
    """load_benchmark('things-fmri-roi', nan_policy=..., require_equal_repetitions=...) reaches the loader, as its
    error messages suggest: the benchmark's ROI RDMs are those of the loader called with the same policy."""
    from benchmarks import load_benchmark
    from benchmarks.roi_rsa import patterns_to_rdms

    stimulus = pd.read_csv(betas(copy, "01", "StimulusMetadata"))
    first_test = int(np.flatnonzero(stimulus["trial_type"] == "test")[0])

    def poison(responses):
        responses[2, first_test] = np.nan
        return responses

    rewrite_responses(copy, "01", poison)
    benchmark = load_benchmark("things-fmri-roi", root=str(copy), nan_policy="drop_voxels")
    expected = patterns_to_rdms(load(copy, rois=things.DEFAULT_ROIS, nan_policy="drop_voxels"), 10.0)
    got = benchmark.data
    for roi in expected.rois:
        np.testing.assert_array_equal(got.rdms[roi], expected.rdms[roi])


def test_a_one_voxel_roi_is_named_as_the_roi_not_a_model_layer(copy):
    from benchmarks import load_benchmark

    def keep_one(table):
        first = int(np.flatnonzero(table["V3"].to_numpy() == 1)[0])
        table["V3"] = 0
        table.loc[first, "V3"] = 1
        return table

    edit_csv(betas(copy, "01", "VoxelMetadata"), keep_one)
    with pytest.raises(ValueError, match=r"subject sub-01 ROI V3: the pattern has 1 voxel\(s\); Pearson needs at "
                                         r"least 2"):
        _ = load_benchmark("things-fmri-roi.V3", root=str(copy)).data
