"""THINGS-EEG2 loading: round trips, validation errors, a malicious file refused (the unpickler: test_pickle.py)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets._pickle import UnsafePickleError
from benchmarks.datasets.things_eeg2 import data
from benchmarks.datasets.things_eeg2.data import (
    CHANNEL_NAMES,
    TIMES,
    ThingsEEG2FormatError,
    ThingsEEG2NotFoundError,
    available_subjects,
    image_paths,
    load_image_metadata,
    load_subject,
    stimulus_ids,
)
from model_registry.stimuli import as_stimuli

# ------------------------------------------------------------------------------------------------------------
# helpers


def eeg_path(root: Path, subject: int, split: str) -> Path:
    return root / "preprocessed_data" / f"sub-{subject:02d}" / f"preprocessed_eeg_{split}.npy"


def reference_load(path: Path):
    """np.load with pickles allowed: only for comparing against, in tests."""
    return np.load(path, allow_pickle=True).item()


def rewrite_eeg(root: Path, subject: int = 1, split: str = "test", **changes) -> Path:
    """Rewrite one EEG file with some entries replaced (``drop=key`` removes a key)."""
    path = eeg_path(root, subject, split)
    content = reference_load(path)
    drop = changes.pop("drop", None)
    content.update(changes)
    if drop:
        del content[drop]
    np.save(path, content, allow_pickle=True)
    return path


def rewrite_metadata(root: Path, **changes) -> Path:
    path = root / "image_metadata.npy"
    content = reference_load(path)
    drop = changes.pop("drop", None)
    content.update(changes)
    if drop:
        del content[drop]
    np.save(path, content, allow_pickle=True)
    return path


class MarkerPayload:
    """Unpickling this runs os.system and would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ------------------------------------------------------------------------------------------------------------
# pickled input (the restricted unpickler itself: tests/benchmarks/datasets/test_pickle.py)


def test_malicious_eeg_file_is_refused_by_the_loader(tiny_copy, tmp_path):
    marker = tmp_path / "marker"
    np.save(eeg_path(tiny_copy, 1, "test"), {"preprocessed_eeg_data": MarkerPayload(marker)}, allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="preprocessed_eeg_test.npy"):
        load_subject(1, "test", tiny_copy)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------------------
# round trips


def test_load_subject_round_trips_generated_files(small_dataset):
    metadata = reference_load(small_dataset / "image_metadata.npy")
    for subject in (1, 2):
        for split, prefix in (("test", "test"), ("training", "train")):
            eeg = load_subject(subject, split, small_dataset)
            reference = reference_load(eeg_path(small_dataset, subject, split))
            np.testing.assert_array_equal(eeg.data, reference["preprocessed_eeg_data"])
            assert eeg.data.dtype == np.float64
            assert eeg.ch_names == tuple(reference["ch_names"]) == CHANNEL_NAMES
            np.testing.assert_array_equal(eeg.times, reference["times"])
            assert eeg.image_files == tuple(metadata[f"{prefix}_img_files"])
            assert eeg.concepts == tuple(metadata[f"{prefix}_img_concepts"])
            assert eeg.stimulus_ids == tuple(Path(f).stem for f in metadata[f"{prefix}_img_files"])
            assert len(set(eeg.stimulus_ids)) == eeg.n_images
            assert all(p.is_file() and p.parent.name == c and p.name == f
                       for p, c, f in zip(eeg.image_paths, eeg.concepts, eeg.image_files))
            assert eeg.subject == subject and eeg.split == split
            assert eeg.source == eeg_path(small_dataset, subject, split)
    test = load_subject(1, "test", small_dataset)
    assert test.data.shape == (24, 16, 17, 100) and test.n_repetitions == 16
    assert load_subject(1, "training", small_dataset).data.shape == (24, 4, 17, 100)
    # different subjects carry different noise over the same planted signal
    assert not np.array_equal(test.data, load_subject(2, "test", small_dataset).data)


def test_metadata_ids_and_paths(small_dataset):
    reference = reference_load(small_dataset / "image_metadata.npy")
    metadata = load_image_metadata(small_dataset)
    assert metadata.train_files == tuple(reference["train_img_files"])
    assert metadata.test_concepts == tuple(reference["test_img_concepts"])
    assert metadata.test_concepts_things == tuple(reference["test_img_concepts_THINGS"])
    assert metadata.n_images("training") == 24 and metadata.n_images("test") == 24
    paths = image_paths("training", small_dataset)
    assert [p.relative_to(small_dataset).parts[:3] for p in paths[:1]] == [
        ("image_set", "training_images", reference["train_img_concepts"][0])]
    assert [p.name for p in paths] == reference["train_img_files"]
    assert stimulus_ids("test", small_dataset) == tuple(f[:-4] for f in reference["test_img_files"])


def test_real_release_metadata_with_release_sized_test_eeg(real_metadata_path, tmp_path):
    root = tmp_path / "release"
    (root / "preprocessed_data" / "sub-01").mkdir(parents=True)
    shutil.copy(real_metadata_path, root / "image_metadata.npy")
    values = np.random.default_rng(0).standard_normal((200, 2, 17, 100))
    np.save(eeg_path(root, 1, "test"), {"preprocessed_eeg_data": values, "ch_names": list(CHANNEL_NAMES),
                                        "times": np.linspace(-0.2, 0.79, 100)}, allow_pickle=True)
    eeg = load_subject(1, "test", root, check_images=False)
    np.testing.assert_array_equal(eeg.data, values)
    assert eeg.stimulus_ids[:2] == ("aircraft_carrier_06s", "antelope_01b")
    assert eeg.image_paths[0] == root / "image_set" / "test_images" / "00001_aircraft_carrier" / \
        "aircraft_carrier_06s.jpg"
    with pytest.raises(ThingsEEG2NotFoundError, match=r"200 of 200 test images .* folder itself is missing"):
        load_subject(1, "test", root)


def test_available_subjects_and_subsets(tiny_copy):
    assert available_subjects(tiny_copy) == [1, 2]
    eeg_path(tiny_copy, 1, "training").unlink()
    assert available_subjects(tiny_copy, "training") == [2]
    assert available_subjects(tiny_copy, "test") == [1, 2]
    shutil.rmtree(tiny_copy / "preprocessed_data" / "sub-02")
    assert available_subjects(tiny_copy) == [1]
    (tiny_copy / "preprocessed_data" / "notes.txt").write_text("ignored: not a subject folder")
    assert available_subjects(tiny_copy) == [1]


def test_default_root_comes_from_realnet_data_dir(tiny_dataset, monkeypatch):
    monkeypatch.setenv("REALNET_DATA_DIR", str(tiny_dataset.parent))
    assert tiny_dataset.name == "things-eeg2"
    assert data.resolve_root() == tiny_dataset
    np.testing.assert_array_equal(load_subject(2, "test").data, load_subject(2, "test", tiny_dataset).data)
    monkeypatch.setenv("REALNET_DATA_DIR", str(tiny_dataset.parent / "elsewhere"))
    with pytest.raises(ThingsEEG2NotFoundError, match="REALNET_DATA_DIR"):
        available_subjects()


def test_stimulus_set_for_brainscore(small_dataset):
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    stimulus_set = data.stimulus_set("test", small_dataset)
    metadata = load_image_metadata(small_dataset)
    assert isinstance(stimulus_set, StimulusSet)
    assert list(stimulus_set.columns) == ["stimulus_id", "concept", "image_file"]
    assert tuple(stimulus_set["stimulus_id"]) == metadata.stimulus_ids("test")
    assert tuple(stimulus_set["concept"]) == metadata.test_concepts
    assert stimulus_set.get_stimulus(metadata.stimulus_ids("test")[3]) == metadata.image_paths("test")[3]
    assert stimulus_set.identifier.startswith("things_eeg2_test_")
    # the subset view keeps stimulus_paths (Brain-Score propagates _metadata)
    assert stimulus_set.iloc[:2].stimulus_paths == stimulus_set.stimulus_paths
    converted = as_stimuli(stimulus_set)
    assert converted.ids == metadata.stimulus_ids("test")
    assert converted == data.stimuli("test", small_dataset)


def test_stimulus_set_identifier_follows_image_content(tiny_copy):
    before = data.stimulus_set("test", tiny_copy).identifier
    assert data.stimulus_set("test", tiny_copy).identifier == before
    first = load_image_metadata(tiny_copy).image_paths("test")[0]
    first.write_bytes(first.read_bytes() + b"\0")
    assert data.stimulus_set("test", tiny_copy).identifier != before


def test_to_dataarray(small_dataset):
    eeg = load_subject(1, "test", small_dataset)
    array = eeg.to_dataarray()
    assert array.dims == ("presentation", "repetition", "neuroid", "time")
    assert np.shares_memory(array.values, eeg.data)
    assert list(array["stimulus_id"].values) == list(eeg.stimulus_ids)
    assert list(array["channel"].values) == list(CHANNEL_NAMES)
    np.testing.assert_allclose(array["time"].values, TIMES)


# ------------------------------------------------------------------------------------------------------------
# validation errors


def test_unknown_split_and_bad_subject(tiny_dataset):
    with pytest.raises(ValueError, match=r"unknown THINGS-EEG2 split 'train'.*\['training', 'test'\]"):
        load_subject(1, "train", tiny_dataset)
    for bad in (0, -1, True, "1", 1.0):
        with pytest.raises(ValueError, match="positive integer"):
            load_subject(bad, "test", tiny_dataset)


def test_subject_not_found_lists_the_subjects_found(tiny_dataset):
    with pytest.raises(ThingsEEG2NotFoundError, match=r"subject 7 not found.*sub-07.*found: sub-01, sub-02"):
        load_subject(7, "test", tiny_dataset)


def test_subject_folder_without_files(tiny_copy):
    empty = tiny_copy / "preprocessed_data" / "sub-03"
    empty.mkdir()
    with pytest.raises(ThingsEEG2FormatError, match=r"sub-03 holds no EEG file"):
        available_subjects(tiny_copy)
    with pytest.raises(ThingsEEG2NotFoundError, match=r"EEG file missing: .*sub-03/preprocessed_eeg_test.npy"):
        load_subject(3, "test", tiny_copy)
    eeg_path(tiny_copy, 1, "training").unlink()
    with pytest.raises(ThingsEEG2NotFoundError, match=r"preprocessed_eeg_training.npy.*holds \['preprocessed_eeg_te"):
        load_subject(1, "training", tiny_copy)


def test_missing_root_metadata_and_data_folder(tiny_copy, tmp_path):
    with pytest.raises(ThingsEEG2NotFoundError, match="root not found"):
        load_subject(1, "test", tmp_path / "nowhere")
    (tiny_copy / "image_metadata.npy").unlink()
    with pytest.raises(ThingsEEG2NotFoundError, match=r"image metadata not found: .*image_metadata.npy"):
        load_subject(1, "test", tiny_copy)
    shutil.rmtree(tiny_copy / "preprocessed_data")
    with pytest.raises(ThingsEEG2NotFoundError, match="no preprocessed_data folder"):
        available_subjects(tiny_copy)


def _values(root: Path, subject: int = 1, split: str = "test") -> np.ndarray:
    return reference_load(eeg_path(root, subject, split))["preprocessed_eeg_data"]


@pytest.mark.parametrize("change, message", [
    (lambda v: v[..., 0], r"has 3 dimensions, shape \(4, 3, 17\); expected 4"),
    (lambda v: v[:3], r"shape \(3, 3, 17, 100\); expected \(n_images=4, n_repetitions>=2, n_channels, n_times\)"
                      r": .*image_metadata.npy lists 4 test images but the file holds 3"),
    (lambda v: v[:, :1], r"shape \(4, 1, 17, 100\); expected"),
    (lambda v: v[:, :, :16], r"'ch_names' lists 17 channels but 'preprocessed_eeg_data' has 16"),
    (lambda v: v[..., :99], r"'times' holds 100 values of float64; expected 99 finite times"),
    (lambda v: v.astype(np.float16), r"dtype float16; expected float64 \(as the release\) or float32"),
    (lambda v: v.astype(np.int64), r"dtype int64; expected float64"),
    (lambda v: v.tolist(), "is a list; expected an array"),
], ids=["ndim", "n_images", "repetitions", "channels", "times", "float16", "int", "not-array"])
def test_bad_eeg_array_is_reported(tiny_copy, change, message):
    path = rewrite_eeg(tiny_copy, preprocessed_eeg_data=change(_values(tiny_copy)))
    with pytest.raises(ThingsEEG2FormatError, match=message) as error:
        load_subject(1, "test", tiny_copy)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_eeg_is_reported_with_its_position(tiny_copy, bad_value):
    values = _values(tiny_copy).copy()
    values[2, 1, 5, 40] = bad_value
    values[3, 0, 0, 0] = bad_value
    rewrite_eeg(tiny_copy, preprocessed_eeg_data=values)
    with pytest.raises(ThingsEEG2FormatError, match=r"2 NaN/infinite values, the first at .* = \(2, 1, 5, 40\)"):
        load_subject(1, "test", tiny_copy)


def test_non_finite_check_counts_and_locates_across_blocks(tmp_path):
    values = np.zeros((7, 2, 17, 100))
    values[5, 1, 3, 9] = np.nan
    values[6, 0, 0, 0] = np.inf
    with pytest.raises(ThingsEEG2FormatError, match=r"2 NaN/infinite values, the first at .* = \(5, 1, 3, 9\)"):
        data._check_finite(values, tmp_path / "x.npy", block=2)
    data._check_finite(np.zeros((7, 2, 17, 100)), tmp_path / "x.npy", block=2)


def test_extra_repetitions_are_accepted(tiny_copy):
    values = np.concatenate([_values(tiny_copy)] * 3, axis=1)  # 9 repetitions
    rewrite_eeg(tiny_copy, preprocessed_eeg_data=values)
    assert load_subject(1, "test", tiny_copy).n_repetitions == 9


def _uneven_times() -> np.ndarray:
    times = TIMES.copy()
    times[50] += 0.003
    return times


@pytest.mark.parametrize("changes, message", [
    ({"ch_names": list(CHANNEL_NAMES[:16]) + ["Pz"]}, r"'ch_names' holds \['Pz'\] more than once"),
    ({"ch_names": list(range(17))}, r"'ch_names' must be a list of channel names"),
    ({"ch_names": list(CHANNEL_NAMES[:16])}, r"'ch_names' lists 16 channels but 'preprocessed_eeg_data' has 17"),
    ({"times": TIMES[:50]}, r"'times' holds 50 values of float64; expected 100 finite times"),
    ({"times": np.where(TIMES == 0.3, np.nan, TIMES)}, r"'times' holds 100 values of float64; expected 100 finite"),
    ({"times": _uneven_times()}, r"'times' .* not increasing evenly \(sample 50 at 0.303000 s, expected 0.300000"),
    ({"times": TIMES[::-1]}, r"'times' \(100 values from 0.7900 to -0.2000 s\) are not increasing evenly"),
    ({"drop": "times"}, r"keys \['times'\] missing"),
    ({"drop": "preprocessed_eeg_data"}, r"keys \['preprocessed_eeg_data'\] missing"),
], ids=["channel-repeated", "channel-not-str", "channel-count", "times-length", "times-nan", "times-uneven",
        "times-decreasing", "no-times", "no-data"])
def test_bad_channel_names_times_or_keys(tiny_copy, changes, message):
    path = rewrite_eeg(tiny_copy, **changes)
    with pytest.raises(ThingsEEG2FormatError, match=message) as error:
        load_subject(1, "test", tiny_copy)
    assert str(path) in str(error.value)


def test_channels_are_selected_by_name(tiny_copy):
    values = _values(tiny_copy)  # (4, 3, 17, 100), channels in the release's order
    # the same channels stored in reversed order: the default selection restores the release's order
    rewrite_eeg(tiny_copy, ch_names=list(CHANNEL_NAMES[::-1]), preprocessed_eeg_data=values[:, :, ::-1].copy())
    eeg = load_subject(1, "test", tiny_copy)
    assert eeg.ch_names == CHANNEL_NAMES and eeg.file_ch_names == CHANNEL_NAMES[::-1]
    np.testing.assert_array_equal(eeg.data, values)
    # explicit names, in the order asked for (hand selection: file channel k is CHANNEL_NAMES[16 - k])
    picked = load_subject(1, "test", tiny_copy, channels=["Oz", "Pz", "P2"])
    assert picked.ch_names == ("Oz", "Pz", "P2")
    np.testing.assert_array_equal(picked.data, values[:, :, [4, 0, 16]])
    assert load_subject(1, "test", tiny_copy, channels="all").ch_names == CHANNEL_NAMES[::-1]
    with pytest.raises(ValueError, match=r"preprocessed_eeg_test.npy: channels \['Cz'\] are not among its 17"):
        load_subject(1, "test", tiny_copy, channels=["Oz", "Cz"])
    with pytest.raises(ValueError, match=r"channels lists \['Oz'\] more than once"):
        load_subject(1, "test", tiny_copy, channels=["Oz", "Oz"])
    # a file lacking one of the release's channels: all of its channels, in file order
    other = list(CHANNEL_NAMES[:16]) + ["Cz"]
    rewrite_eeg(tiny_copy, ch_names=other, preprocessed_eeg_data=values)
    eeg = load_subject(1, "test", tiny_copy)
    assert eeg.ch_names == tuple(other)
    np.testing.assert_array_equal(eeg.data, values)


@pytest.mark.parametrize("times, rate", [(TIMES + 0.1, 100.0), (np.arange(-10, 90) / 50.0, 50.0),
                                         (np.arange(-50, 50) / 250.0, 250.0)], ids=["shifted", "50Hz", "250Hz"])
def test_other_epochs_and_rates_are_read_from_the_file(tiny_copy, times, rate):
    rewrite_eeg(tiny_copy, times=times)
    eeg = load_subject(1, "test", tiny_copy)
    np.testing.assert_allclose(eeg.times, times, rtol=0, atol=1e-12)  # on the microsecond grid
    assert eeg.sampling_rate_hz == pytest.approx(rate, rel=1e-9)


def test_float32_times_read_as_the_float64_times_they_stand_for(tiny_copy):
    """float32 0.1 is 0.10000000149: unsnapped, a window ending at 0.1 s lost that sample."""
    rewrite_eeg(tiny_copy, times=TIMES.astype(np.float32))
    as_float32 = load_subject(1, "test", tiny_copy)
    rewrite_eeg(tiny_copy, times=TIMES)
    np.testing.assert_array_equal(as_float32.times, load_subject(1, "test", tiny_copy).times)
    np.testing.assert_array_equal(as_float32.times, np.round(np.arange(-20, 80) / 100, 6))
    assert as_float32.times.dtype == np.float64


@pytest.mark.parametrize("times", [np.arange(-200, 800, 10), np.arange(-200, 800, 10) / 1.0],
                         ids=["integer-ms", "float-ms"])
def test_times_in_milliseconds_are_refused(tiny_copy, times):
    rewrite_eeg(tiny_copy, times=times)
    with pytest.raises(ThingsEEG2FormatError, match=r"'times' run from -200 to 790 in steps of 10, .* look like "
                                                     r"milliseconds .* divide them by 1000"):
        load_subject(1, "test", tiny_copy)


def test_float32_files_stay_float32(tiny_copy):
    values = _values(tiny_copy).astype(np.float32)
    rewrite_eeg(tiny_copy, preprocessed_eeg_data=values)
    eeg = load_subject(1, "test", tiny_copy)
    assert eeg.data.dtype == np.float32
    np.testing.assert_array_equal(eeg.data, values)


def test_times_within_float_noise_are_accepted(tiny_copy):
    rewrite_eeg(tiny_copy, times=np.linspace(-0.2, 0.79, 100) + 1e-9)
    np.testing.assert_allclose(load_subject(1, "test", tiny_copy).times, TIMES, atol=1e-8)


def test_missing_image_files_are_reported(tiny_copy):
    missing = load_image_metadata(tiny_copy).image_paths("test")[2]
    missing.unlink()
    relative = str(missing.relative_to(tiny_copy))
    with pytest.raises(ThingsEEG2NotFoundError, match=rf"1 of 4 test images .* missing .*: {relative}"):
        load_subject(1, "test", tiny_copy)
    with pytest.raises(ThingsEEG2NotFoundError, match="1 of 4 test images"):
        image_paths("test", tiny_copy)
    with pytest.raises(ThingsEEG2NotFoundError, match="1 of 4 test images"):
        data.stimulus_set("test", tiny_copy)
    assert load_subject(1, "test", tiny_copy, check_images=False).n_images == 4
    assert load_subject(1, "training", tiny_copy).n_images == 4
    assert len(image_paths("test", tiny_copy, check=False)) == 4


@pytest.mark.parametrize("changes, message", [
    ({"drop": "test_img_files"}, r"key 'test_img_files' missing; found keys \['test_img_concepts'"),
    ({"train_img_concepts": ["00001_a"]}, r"1 entries in 'train_img_concepts' for 4 in 'train_img_files'"),
    ({"test_img_concepts_THINGS": ["00001_a"] * 5}, r"5 entries in 'test_img_concepts_THINGS' for 4"),
    ({"test_img_files": [1, 2, 3, 4]}, r"'test_img_files' must be a list of strings, found list holding int"),
    ({"test_img_files": []}, r"'test_img_files' is empty"),
    ({"test_img_concepts": ["x", "00002_b", "00003_c", "00004_d"]}, r"holds \['x'\]; expected concept folder"),
    ({"test_img_files": ["a.jpg", "../b.jpg", "c.jpg", "d.jpg"]}, r"holds \['../b.jpg'\]; expected bare file names"),
], ids=["missing-key", "length", "things-length", "not-strings", "empty", "concept-name", "path-traversal"])
def test_bad_metadata_is_reported(tiny_copy, changes, message):
    path = rewrite_metadata(tiny_copy, **changes)
    with pytest.raises(ThingsEEG2FormatError, match=message) as error:
        load_subject(1, "test", tiny_copy)
    assert str(path) in str(error.value)


def test_duplicate_stimulus_ids_are_reported(tiny_copy):
    metadata = reference_load(tiny_copy / "image_metadata.npy")
    files = list(metadata["test_img_files"])
    files[1] = metadata["train_img_files"][0]
    rewrite_metadata(tiny_copy, test_img_files=files)
    with pytest.raises(ThingsEEG2FormatError, match=rf"unique over both splits; repeated: \['{files[1][:-4]}'\]"):
        load_image_metadata(tiny_copy)


def test_metadata_mismatching_eeg_image_count(tiny_copy):
    metadata = reference_load(tiny_copy / "image_metadata.npy")
    rewrite_metadata(tiny_copy, **{key: value[:3] for key, value in metadata.items() if key.startswith("test")})
    with pytest.raises(ThingsEEG2FormatError, match=r"shape \(4, 3, 17, 100\); expected \(n_images=3"):
        load_subject(2, "test", tiny_copy)
