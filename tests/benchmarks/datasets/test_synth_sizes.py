"""Generators refuse sizes no benchmark can score (RSA needs RDMs of >= 3 image pairs, so >= 3 test images), in one
line naming the argument, before writing anything (a new user generated 1 test image and failed only when scoring)."""
import pytest

from benchmarks.datasets.shen2019.synth import write_synthetic_shen2019
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri


@pytest.mark.parametrize("make, kwargs, name", [
    (generate_things_eeg2, {"n_test_images": 2}, "n_test_images"),
    (generate_things_eeg2, {"n_test_images": 1}, "n_test_images"),
    (write_synthetic_shen2019, {"n_images": 2}, "n_images"),
    (write_synthetic_things_fmri, {"n_concepts": 1, "images_per_concept": 2}, "images_per_concept"),
])
def test_too_few_test_images_are_refused_before_anything_is_written(tmp_path, make, kwargs, name):
    root = tmp_path / "data"
    with pytest.raises(ValueError) as raised:
        make(root, **kwargs)
    assert name in str(raised.value) and ">= 3" in str(raised.value) and "\n" not in str(raised.value)
    assert not root.exists() or not any(root.iterdir())


def test_three_test_images_are_enough(tmp_path):
    written = write_synthetic_shen2019(tmp_path / "shen", n_images=3, n_subjects=1)
    assert written is not None and any((tmp_path / "shen").iterdir())
