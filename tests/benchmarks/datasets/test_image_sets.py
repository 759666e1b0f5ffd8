"""Image sets of the robustness benchmarks (benchmarks/datasets/image_sets.py) and the dataset error family."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from PIL import Image

import benchmarks.datasets
from benchmarks.datasets.errors import DatasetError, DatasetFormatError, DatasetNotFoundError
from benchmarks.datasets.image_sets import folder_images


def write_png(path, seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_a_folder_reads_sorted_with_its_labels(tmp_path):
    expected = {name: write_png(tmp_path / f"{name}.png", seed) for seed, name in enumerate(["b", "a", "c"])}
    (tmp_path / "labels.csv").write_text("file,imagenet_index\nc.png,7\na.png,0\nb.png,999\n")
    images = folder_images(tmp_path)
    assert images.ids == ("a", "b", "c") and images.labels == (0, 999, 7)
    for identifier, image in zip(images.ids, images.images):
        np.testing.assert_array_equal(np.asarray(image), expected[identifier])


def test_a_folder_without_images_is_a_missing_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetNotFoundError, match=r"no images \(.jpg, .jpeg, .png\) in .*images='builtin'"):
        folder_images(tmp_path)
    with pytest.raises(FileNotFoundError):  # callers catching the builtin kind still do
        folder_images(tmp_path / "absent")


@pytest.mark.parametrize(("table", "message"), [
    ("file,imagenet_index\na.png,3\n", r"labels.csv has no imagenet_index for \['b.png'\]"),
    ("file,imagenet_index\na.png,3\nb.png,1000\n", r"labels.csv: imagenet_index must be in 0..999, got \[1000\]"),
])
def test_bad_labels_are_a_format_error_naming_the_file(tmp_path, table, message):
    write_png(tmp_path / "a.png", 0)
    write_png(tmp_path / "b.png", 1)
    (tmp_path / "labels.csv").write_text(table)
    with pytest.raises(DatasetFormatError, match=message) as error:
        folder_images(tmp_path)
    assert isinstance(error.value, ValueError)


def test_every_error_class_of_the_datasets_room_derives_from_the_bases():
    """Each exception class defined in a benchmarks.datasets module is a DatasetFormatError or DatasetNotFoundError."""
    found = {}
    for info in pkgutil.walk_packages(benchmarks.datasets.__path__, "benchmarks.datasets."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    assert {"benchmarks.datasets.things_eeg2.data.ThingsEEG2FormatError",
            "benchmarks.datasets._pickle.UnsafePickleError"} <= set(found)
    stray = [name for name, cls in found.items()
             if cls is not DatasetError and not issubclass(cls, (DatasetFormatError, DatasetNotFoundError))]
    assert stray == []
