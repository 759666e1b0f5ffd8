"""Shared helpers of the fMRI loaders: repetition averaging, validators, PNG stimuli and StimulusSets."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets.errors import DatasetFormatError, DatasetNotFoundError
from benchmarks.datasets.fmri_common import (
    RoiPatterns,
    apply_nan_policy,
    average_repetitions,
    build_stimulus_set,
    check_equal_repetitions,
    check_images_exist,
    check_same_stimuli,
    write_png_stimuli,
)


def test_average_repetitions_matches_per_label_means():
    rng = np.random.default_rng(0)
    trials = rng.normal(size=(9, 4))
    labels = ["b", "a", "c", "a", "b", "b", "c", "a", "c"]
    means, counts = average_repetitions(trials, labels, ["c", "a", "b"])
    for row, label in enumerate(["c", "a", "b"]):
        np.testing.assert_allclose(means[row], trials[[i for i, x in enumerate(labels) if x == label]].mean(axis=0))
    np.testing.assert_array_equal(counts, [3, 3, 3])


def test_average_repetitions_rejects_unknown_or_unseen_stimuli():
    with pytest.raises(ValueError, match="outside the requested order: z"):
        average_repetitions(np.zeros((2, 1)), ["a", "z"], ["a"])
    with pytest.raises(ValueError, match="no trials for stimuli b"):
        average_repetitions(np.zeros((2, 1)), ["a", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="3 trials but 2 labels"):
        average_repetitions(np.zeros((3, 1)), ["a", "a"], ["a"])


def test_validators_name_the_offenders():
    with pytest.raises(DatasetFormatError, match=r"most have 3 repetitions; differing: y \(1\)"):
        check_equal_repetitions(np.array([3, 1, 3]), ["x", "y", "z"], "file.h5")
    check_equal_repetitions(np.array([2, 2]), ["x", "y"], "file.h5")
    assert check_same_stimuli({"s1": ("a", "b"), "s2": ("a", "b")}, "test") == ("a", "b")
    with pytest.raises(DatasetFormatError, match=r"s2 and s1 saw different test images \(only in s1: b; only in s2: "
                                                  r"c\)"):
        check_same_stimuli({"s1": ("a", "b"), "s2": ("a", "c")}, "test")


def test_nan_policy():
    pattern = np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 5.0]])
    with pytest.raises(DatasetFormatError, match="where: 1 of 3 voxels have NaN.*drop_voxels"):
        apply_nan_policy(pattern, "raise", "where")
    np.testing.assert_array_equal(apply_nan_policy(pattern, "drop_voxels", "where"), [[1.0, 2.0], [3.0, 5.0]])
    with pytest.raises(DatasetFormatError, match="2 of 2 voxels"):
        apply_nan_policy(np.full((2, 2), np.nan), "drop_voxels", "where")
    with pytest.raises(ValueError, match="nan_policy"):
        apply_nan_policy(pattern, "ignore", "where")


def test_png_stimuli_and_stimulus_set(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    ids = ("s_a", "s_b", "s_c")
    paths = write_png_stimuli(images, ids, "demo", tmp_path)
    assert [p.name for p in paths] == ["s_a.png", "s_b.png", "s_c.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), images[1])
    first = build_stimulus_set("demo-set", ids, paths, {"group": ("x", "y", "x")})
    assert first.identifier.startswith("demo_set_") and list(first["group"]) == ["x", "y", "x"]
    images[2, 0, 0] = 255 - images[2, 0, 0]
    write_png_stimuli(images, ids, "demo", tmp_path)
    assert build_stimulus_set("demo-set", ids, paths).identifier != first.identifier  # new pixels, new identifier
    with pytest.raises(ValueError, match=r"expected images of shape \(n_images, H, W, 3\) uint8"):
        write_png_stimuli(images.astype(np.float32), ids, "demo", tmp_path)
    with pytest.raises(ValueError, match="column 'group' has 1 values for 3 stimuli"):
        build_stimulus_set("demo", ids, paths, {"group": ("x",)})


def test_missing_images_and_roi_patterns_access(tmp_path):
    present = tmp_path / "a.jpg"
    present.write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError, match=r"1 of 2 stimulus images are missing .*b\.jpg"):
        check_images_exist([present, tmp_path / "b.jpg"], tmp_path, "flat files")
    patterns = RoiPatterns(dataset="demo", subjects=("sub-01",), rois=("V1",), stimulus_ids=("a",),
                           image_paths=(present,), patterns={"sub-01": {"V1": np.zeros((1, 2))}},
                           n_repetitions={"sub-01": np.array([1])})
    assert patterns.pattern("sub-01", "V1").shape == (1, 2) and patterns.n_images == 1
    with pytest.raises(KeyError, match="unknown subject 'sub-02'"):
        patterns.pattern("sub-02", "V1")
