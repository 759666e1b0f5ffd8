"""Synthetic THINGS-EEG2 datasets in the official layout, generated once per test session."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2

REAL_METADATA = (Path(importlib.util.find_spec("brainscore_vision").submodule_search_locations[0])
                 / "data" / "gifford2022" / "data_packaging" / "image_metadata.npy")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """The generator's default (small) dataset: 2 subjects, 24 test images x 16 reps, 8 x 3 training images x 4."""
    return generate_things_eeg2(tmp_path_factory.mktemp("synth") / "things-eeg2", progress=False)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A tiny dataset (4 test images, 2 x 2 training images, 2 repetitions) to copy and then break."""
    return generate_things_eeg2(tmp_path_factory.mktemp("tiny") / "things-eeg2", n_subjects=2, n_test_images=4,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=3,
                                n_train_repetitions=2, image_size=16, progress=False)


@pytest.fixture
def tiny_copy(tiny_dataset, tmp_path) -> Path:
    """A private, writable copy of ``tiny_dataset``."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "things-eeg2"))


@pytest.fixture(scope="session")
def real_metadata_path() -> Path:
    """The release's image_metadata.npy, as shipped in the brainscore-vision wheel."""
    assert REAL_METADATA.is_file(), f"brainscore-vision's copy of image_metadata.npy is missing: {REAL_METADATA}"
    return REAL_METADATA
