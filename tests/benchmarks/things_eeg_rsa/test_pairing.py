"""EEG rows <-> images: image_metadata.npy must list the images in the order the EEG rows follow (the release's
order), and the benchmark checks that (and every EEG file) before any model runs, also on RDM cache hits."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from benchmarks.datasets.things_eeg2.data import (
    CHANNEL_NAMES,
    ThingsEEG2FormatError,
    check_image_order,
    load_image_metadata,
    load_subject,
)
from benchmarks.datasets.things_eeg2.synth import build_image_metadata
from benchmarks.things_eeg_rsa import benchmark as module

KEYS = ("img_files", "img_concepts", "img_concepts_THINGS")


def reference_load(path):
    """np.load with pickles allowed: only for preparing inputs, in tests."""
    return np.load(path, allow_pickle=True).item()


def write_metadata(root, content) -> None:
    np.save(root / "image_metadata.npy", content, allow_pickle=True)


def reorder(content: dict, prefix: str, order) -> dict:
    """Rows of split ``prefix`` in ``order`` (files, concepts and THINGS concepts moved together)."""
    changed = dict(content)
    for key in KEYS:
        changed[f"{prefix}_{key}"] = [content[f"{prefix}_{key}"][i] for i in order]
    return changed


class ModelThatMustNotRun:
    """A candidate whose activations fail loudly: the data checks must stop the benchmark before it runs."""

    identifier = "probe"
    layers = ["x"]

    def activations(self, *args, **kwargs):
        raise AssertionError("the model ran before the data were validated")

    def look_at(self, *args, **kwargs):
        raise AssertionError("the model ran before the data were validated")


# ------------------------------------------------------------------------------------------------------------
# the release's ordering rule


def test_the_release_lists_images_as_the_sorted_folder_listing(real_metadata_path):
    """The rule the loader checks, verified on the release's own file: rows = sorted (concept folder, file)."""
    real = reference_load(real_metadata_path)
    for prefix in ("train", "test"):
        rows = list(zip(real[f"{prefix}_img_concepts"], real[f"{prefix}_img_files"]))
        assert rows == sorted(rows) and len(set(rows)) == len(rows)
        folders = list(dict.fromkeys(real[f"{prefix}_img_concepts"]))
        assert [int(f[:5]) for f in folders] == list(range(1, len(folders) + 1))
        check_image_order(real[f"{prefix}_img_files"], real[f"{prefix}_img_concepts"],
                          "training" if prefix == "train" else "test", real_metadata_path)


@pytest.mark.parametrize("per_concept", [3, 10, 120])
def test_synthetic_metadata_follows_the_rule(per_concept):
    content = build_image_metadata(5, 4, per_concept)
    for prefix in ("train", "test"):
        rows = list(zip(content[f"{prefix}_img_concepts"], content[f"{prefix}_img_files"]))
        assert rows == sorted(rows)
        folders = list(dict.fromkeys(content[f"{prefix}_img_concepts"]))
        assert [int(f[:5]) for f in folders] == list(range(1, len(folders) + 1))


def test_shuffled_synthetic_metadata_is_refused_at_its_first_row_out_of_order(tiny_copy):
    path = tiny_copy / "image_metadata.npy"
    content = reference_load(path)
    write_metadata(tiny_copy, reorder(content, "test", [0, 2, 1, 3]))  # rows 1 and 2 swapped
    second, third = content["test_img_concepts"][1], content["test_img_concepts"][2]
    with pytest.raises(ThingsEEG2FormatError, match=rf"{path}: row 2 of 'test_img_concepts' / 'test_img_files' "
                                                    rf"\({second}/.*'{second}' is not numbered after '{third}'"):
        load_image_metadata(tiny_copy)
    with pytest.raises(ThingsEEG2FormatError, match="row 2 of 'test_img_concepts'"):
        load_subject(1, "test", tiny_copy, check_images=False)


def test_files_out_of_order_within_a_concept_are_refused(tiny_copy):
    content = reference_load(tiny_copy / "image_metadata.npy")
    files = list(content["train_img_files"])  # 2 concepts x 2 files
    files[0], files[1] = files[1], files[0]
    write_metadata(tiny_copy, {**content, "train_img_files": files})
    with pytest.raises(ThingsEEG2FormatError, match=rf"row 1 of 'train_img_concepts' / 'train_img_files'.*file "
                                                    rf"'{files[1]}' does not sort after '{files[0]}'"):
        load_image_metadata(tiny_copy)


def test_a_concept_split_into_two_runs_is_refused(tiny_copy):
    content = reference_load(tiny_copy / "image_metadata.npy")
    write_metadata(tiny_copy, reorder(content, "train", [0, 2, 1, 3]))
    with pytest.raises(ThingsEEG2FormatError, match=r"row 2 of 'train_img_concepts'.*appeared before"):
        load_image_metadata(tiny_copy)


def test_release_metadata_must_equal_the_release(real_metadata_path, tmp_path):
    root = tmp_path / "release"
    root.mkdir()
    real = reference_load(real_metadata_path)
    shutil.copy(real_metadata_path, root / "image_metadata.npy")
    assert load_image_metadata(root).test_files == tuple(real["test_img_files"])
    # the same images, two training rows exchanged
    order = list(range(16540))
    order[5], order[9] = 9, 5
    write_metadata(root, reorder(real, "train", order))
    expected = f"{real['train_img_concepts'][5]}/{real['train_img_files'][5]}"
    with pytest.raises(ThingsEEG2FormatError, match=rf"row 5 of 'train_img_concepts' / 'train_img_files' is "
                                                    rf".* but the THINGS-EEG2 release has {expected} there"):
        load_image_metadata(root)
    # a subset of the release in the release's order is accepted, out of order it is not
    subset = [0, 3, 7, 150, 199]
    write_metadata(root, reorder(real, "test", subset))
    assert load_image_metadata(root).test_files == tuple(real["test_img_files"][i] for i in subset)
    write_metadata(root, reorder(real, "test", [0, 7, 3]))
    with pytest.raises(ThingsEEG2FormatError, match=r"row 2 of 'test_img_concepts'.* comes before row 1"):
        load_image_metadata(root)


# ------------------------------------------------------------------------------------------------------------
# the benchmark validates before the model runs, also on RDM cache hits


@pytest.fixture
def small_copy(small_dataset, tmp_path):
    return shutil.copytree(small_dataset, tmp_path / "things-eeg2")


def test_shuffled_metadata_stops_the_benchmark_before_the_model_runs(small_copy):
    content = reference_load(small_copy / "image_metadata.npy")
    order = np.random.default_rng(3).permutation(24)
    write_metadata(small_copy, reorder(content, "test", order))
    benchmark = module.ThingsEEGRsaBenchmark("correlation", root=small_copy, n_permutations=0)
    with pytest.raises(ThingsEEG2FormatError, match=r"image_metadata.npy: row \d+ of 'test_img_concepts'"):
        benchmark(ModelThatMustNotRun())


def test_a_cache_hit_does_not_skip_validation(small_copy, monkeypatch):
    module.ThingsEEGRsaBenchmark("correlation", root=small_copy).eeg()  # fills the RDM cache (24 images)
    monkeypatch.setattr(module, "eeg_rdms", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert module.ThingsEEGRsaBenchmark("correlation", root=small_copy).eeg()[1].shape == (2, 100, 276)  # a hit
    content = reference_load(small_copy / "image_metadata.npy")
    write_metadata(small_copy, reorder(content, "test", range(23)))  # 23 images listed, EEG and cache hold 24
    message = r"preprocessed_eeg_test.npy: .*image_metadata.npy lists 23 test images but the file holds 24"
    with pytest.raises(ThingsEEG2FormatError, match=message):
        module.ThingsEEGRsaBenchmark("correlation", root=small_copy)(ModelThatMustNotRun())


def test_a_kept_benchmark_revalidates_when_the_metadata_changes(small_copy):
    benchmark = module.ThingsEEGRsaBenchmark("correlation", root=small_copy)
    benchmark.eeg()
    content = reference_load(small_copy / "image_metadata.npy")
    write_metadata(small_copy, reorder(content, "test", range(23)))
    with pytest.raises(ThingsEEG2FormatError, match="lists 23 test images but the file holds 24"):
        benchmark(ModelThatMustNotRun())


def test_every_subject_file_is_validated_before_the_model_runs(small_copy):
    path = small_copy / "preprocessed_data" / "sub-02" / "preprocessed_eeg_test.npy"
    content = reference_load(path)
    content["ch_names"] = list(CHANNEL_NAMES[:16]) + ["Pz"]
    np.save(path, content, allow_pickle=True)
    with pytest.raises(ThingsEEG2FormatError, match=rf"{path}: 'ch_names' holds \['Pz'\] more than once"):
        module.ThingsEEGRsaBenchmark("correlation", root=small_copy)(ModelThatMustNotRun())


def test_subjects_with_different_times_are_refused_naming_both_files(small_copy):
    path = small_copy / "preprocessed_data" / "sub-02" / "preprocessed_eeg_test.npy"
    content = reference_load(path)
    content["times"] = np.arange(-10, 90) / 100.0
    np.save(path, content, allow_pickle=True)
    first = small_copy / "preprocessed_data" / "sub-01" / "preprocessed_eeg_test.npy"
    with pytest.raises(ThingsEEG2FormatError, match=rf"{path}: 'times' .* differ from those of {first}"):
        module.ThingsEEGRsaBenchmark("correlation", root=small_copy)(ModelThatMustNotRun())
