"""Synthetic THINGS-EEG2: official format, planted structure, determinism, atomic output."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets.things_eeg2.data import CHANNEL_NAMES, TIMES, load_image_metadata, load_subject
from benchmarks.datasets.things_eeg2.synth import (
    FULL_RELEASE,
    RandomConvFeatures,
    build_image_metadata,
    generate_things_eeg2,
    time_profile,
)


def mean_colour(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3) mean RGB."""
    return images.reshape(len(images), -1, 3).mean(axis=1)


def read_images(paths) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def between_image_variance(data: np.ndarray) -> np.ndarray:
    """(n_images, n_reps, n_channels, n_times) -> (n_times,) variance over images of the repetition mean."""
    return data.mean(axis=1).var(axis=0).mean(axis=0)


# ------------------------------------------------------------------------------------------------------------
# format


def test_metadata_has_the_structure_of_the_real_file(small_dataset, real_metadata_path):
    real_array = np.load(real_metadata_path, allow_pickle=True)
    ours_array = np.load(small_dataset / "image_metadata.npy", allow_pickle=True)
    assert ours_array.dtype == real_array.dtype == object and ours_array.shape == real_array.shape == ()
    real, ours = real_array.item(), ours_array.item()
    assert list(ours) == list(real)  # same keys, same order
    for key in real:
        assert type(ours[key]) is type(real[key]) is list
        assert all(type(value) is str for value in ours[key])
    for prefix in ("train", "test"):
        files, concepts = ours[f"{prefix}_img_files"], ours[f"{prefix}_img_concepts"]
        assert all(re.fullmatch(r"\d{5}_[a-z0-9_]+", c) for c in concepts + ours[f"{prefix}_img_concepts_THINGS"])
        assert all(re.fullmatch(r"[a-z0-9_]+_\d\d[bs]\.jpg", f) for f in files)
        # as in the release, the file name starts with the concept name
        assert all(f.rsplit("_", 1)[0] == c.split("_", 1)[1] for f, c in zip(files, concepts))
        assert sorted(set(concepts)) == sorted(set(concepts), key=lambda c: c.split("_", 1)[1])
    first_concept = ours["train_img_concepts"][0][6:]
    assert ours["train_img_files"][:3] == [f"{first_concept}_{k}.jpg" for k in ("01b", "02s", "03s")]
    assert not {c[6:] for c in ours["train_img_concepts"]} & {c[6:] for c in ours["test_img_concepts"]}


def test_full_release_metadata_sizes_match_the_real_file(real_metadata_path):
    real = np.load(real_metadata_path, allow_pickle=True).item()
    ours = build_image_metadata(FULL_RELEASE["n_test_images"], FULL_RELEASE["n_train_concepts"],
                                FULL_RELEASE["n_train_per_concept"])
    assert {key: len(value) for key, value in ours.items()} == {key: len(value) for key, value in real.items()}
    for key in ("train_img_concepts", "test_img_concepts"):
        assert len(set(ours[key])) == len(set(real[key]))
    assert len({Path(f).stem for f in ours["train_img_files"] + ours["test_img_files"]}) == 16740
    things = {c for c in ours["train_img_concepts_THINGS"] + ours["test_img_concepts_THINGS"]}
    assert sorted(int(c[:5]) for c in things) == list(range(1, 1855))


def test_eeg_files_have_the_release_format(small_dataset):
    for split, shape in (("test", (24, 16, 17, 100)), ("training", (24, 4, 17, 100))):
        path = small_dataset / "preprocessed_data" / "sub-02" / f"preprocessed_eeg_{split}.npy"
        content = np.load(path, allow_pickle=True).item()
        assert list(content) == ["preprocessed_eeg_data", "ch_names", "times"]
        assert content["preprocessed_eeg_data"].dtype == np.float64
        assert content["preprocessed_eeg_data"].shape == shape
        assert content["ch_names"] == list(CHANNEL_NAMES)
        np.testing.assert_allclose(content["times"], np.linspace(-0.2, 0.79, 100), atol=1e-12)
    images = read_images(load_image_metadata(small_dataset).image_paths("test"))
    assert images.shape == (24, 64, 64, 3)


def test_synth_info_records_what_was_planted(small_dataset):
    info = json.loads((small_dataset / "synth_info.json").read_text())
    assert info["peak_time"] == 0.15 and info["width"] == 0.05 and info["noise"] == 1.0
    assert info["feature_fn"].startswith("RandomConvFeatures(seed=0")
    assert info["n_images"] == {"training": 24, "test": 24} and info["n_features"] == 256
    assert info["n_repetitions"] == {"training": 4, "test": 16} and info["n_subjects"] == 2
    assert info["channel_names"] == list(CHANNEL_NAMES)


# ------------------------------------------------------------------------------------------------------------
# planted structure


def test_between_image_variance_peaks_at_the_planted_time(small_dataset):
    for subject in (1, 2):
        variance = between_image_variance(load_subject(subject, "test", small_dataset).data)
        assert abs(TIMES[variance.argmax()] - 0.15) <= 0.02
        # signal (unit variance at the peak) stands far above the averaged noise (1 / 16) away from it
        assert variance.max() > 5 * np.median(variance[TIMES < 0])


def test_other_peak_time_is_recovered(tmp_path):
    root = generate_things_eeg2(tmp_path / "late", n_subjects=1, n_test_images=16, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=8, image_size=32, peak_time=0.42,
                                width=0.03, progress=False)
    variance = between_image_variance(load_subject(1, "test", root).data)
    assert abs(TIMES[variance.argmax()] - 0.42) <= 0.02
    training = between_image_variance(load_subject(1, "training", root).data)
    assert abs(TIMES[training.argmax()] - 0.42) <= 0.02


def test_noise_free_eeg_is_a_linear_map_of_features_of_the_written_images(tmp_path):
    root = generate_things_eeg2(tmp_path / "exact", n_subjects=1, n_test_images=12, n_train_concepts=3,
                                n_train_per_concept=2, image_size=32, feature_fn=mean_colour, noise=0.0,
                                peak_time=0.2, width=0.05, progress=False)
    profile = time_profile(0.2, 0.05)
    metadata = load_image_metadata(root)
    patterns, colours = [], []
    for split in ("training", "test"):
        eeg = load_subject(1, split, root).data  # (N, R, 17, 100)
        np.testing.assert_array_equal(eeg[:, 0], eeg[:, -1])  # no noise: repetitions agree
        pattern = eeg[:, 0, :, TIMES.tolist().index(0.2)]  # (N, 17) at the peak, profile = 1
        np.testing.assert_allclose(eeg[:, 0], pattern[:, :, None] * profile, rtol=1e-12, atol=1e-12)
        patterns.append(pattern)
        colours.append(mean_colour(read_images(metadata.image_paths(split))))
    pattern, colour = np.concatenate(patterns), np.concatenate(colours)
    np.testing.assert_allclose(pattern.std(axis=0), 1.0, rtol=1e-12)
    design = np.column_stack([np.ones(len(colour)), colour])  # (N, 4)
    coefficients, *_ = np.linalg.lstsq(design, pattern, rcond=None)
    np.testing.assert_allclose(design @ coefficients, pattern, atol=1e-9)
    info = json.loads((root / "synth_info.json").read_text())
    assert "mean_colour" in info["feature_fn"] and info["n_features"] == 3


def test_default_features_are_deterministic_and_tell_images_apart(small_dataset):
    images = read_images(load_image_metadata(small_dataset).image_paths("test"))
    first, second = RandomConvFeatures(seed=0)(images), RandomConvFeatures(seed=0)(images)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (24, 256)
    assert not np.allclose(RandomConvFeatures(seed=1)(images), first)
    standardised = (first - first.mean(0)) / first.std(0)
    distances = 1 - np.corrcoef(standardised)[np.triu_indices(24, 1)]
    assert distances.min() > 0.1
    with pytest.raises(ValueError, match=r"uint8 images \(N, H, W, 3\)"):
        RandomConvFeatures()(images.astype(np.float32))


# ------------------------------------------------------------------------------------------------------------
# determinism, arguments, atomic output

TINY = dict(n_subjects=1, n_test_images=3, n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=2,
            n_train_repetitions=2, image_size=16, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_other_seed_differs(tmp_path):
    first = _files(generate_things_eeg2(tmp_path / "a", seed=5, **TINY))
    assert first == _files(generate_things_eeg2(tmp_path / "b", seed=5, **TINY))
    other = _files(generate_things_eeg2(tmp_path / "c", seed=6, **TINY))
    assert other.keys() != first.keys() or other != first
    assert len([name for name in first if name.endswith(".jpg")]) == 3 + 4


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_things_eeg2(out, **TINY)
    assert (out / "keep.txt").read_text() == "user file"
    generate_things_eeg2(out, overwrite=True, **TINY)
    assert not (out / "keep.txt").exists() and (out / "image_metadata.npy").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging or retired folders left
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_subject(1, "test", generate_things_eeg2(empty, **TINY)).n_images == 3


def test_failure_leaves_nothing_behind(tmp_path):
    def broken(images):
        raise RuntimeError("feature extraction failed")

    with pytest.raises(RuntimeError, match="feature extraction failed"):
        generate_things_eeg2(tmp_path / "out", feature_fn=broken, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("changes, message", [
    ({"n_test_repetitions": 1}, "n_test_repetitions must be an integer >= 2"),
    ({"n_subjects": 0}, "n_subjects must be an integer >= 1"),
    ({"image_size": 4}, "image_size must be an integer >= 8"),
    ({"peak_time": 0.9}, "peak_time must lie within the epoch"),
    ({"width": 0.0}, "width must be > 0"),
    ({"feature_fn": lambda images: np.ones(len(images))}, r"feature_fn must map 4 images to an \(N, F\) array"),
    ({"feature_fn": lambda images: np.ones((len(images), 2))}, "same features for every image"),
])
def test_bad_arguments_are_rejected(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        generate_things_eeg2(tmp_path / "out", **{**TINY, **changes})
    assert not (tmp_path / "out").exists()
