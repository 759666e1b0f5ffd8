"""The generator's signal sources: 'random' EEG carries no image information, 'none' no signal at all."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2

SMALL = dict(n_subjects=1, n_test_images=6, n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=2,
             n_train_repetitions=2, image_size=16, progress=False, noise=0.0)


def _test_eeg(root):
    return np.load(root / "preprocessed_data" / "sub-01" / "preprocessed_eeg_test.npy",
                   allow_pickle=True).item()["preprocessed_eeg_data"]


def test_random_patterns_do_not_depend_on_the_images_features(tmp_path):
    runs = {}
    for signal in ("images", "random"):
        for seed in (1, 2):  # two different "brain" networks
            root = generate_things_eeg2(tmp_path / f"{signal}{seed}", feature_fn=RandomConvFeatures(seed=seed),
                                        signal=signal, **SMALL)
            runs[signal, seed] = _test_eeg(root)
    assert not np.allclose(runs["images", 1], runs["images", 2])  # image-driven EEG follows the brain network
    np.testing.assert_array_equal(runs["random", 1], runs["random", 2])  # the control's EEG ignores it
    peak = np.argmax(np.abs(runs["random", 1][0, 0, 0]))
    pattern = runs["random", 1][:, 0, :, peak]  # noise 0: the planted pattern x the profile's value at the peak
    assert np.all(pattern.std(axis=0) > 0)
    info = json.loads((tmp_path / "random1" / "synth_info.json").read_text())
    assert info["signal_source"] == "random" and "independently of its pixels" in info["signal"]


def test_no_signal_is_noise_only_and_unknown_sources_are_refused(tmp_path):
    root = generate_things_eeg2(tmp_path / "none", signal="none", **SMALL)
    assert not _test_eeg(root).any()  # noise 0 and no signal: all zeros
    with pytest.raises(ValueError, match=r"signal must be one of \['images', 'random', 'none'\], got 'pixels'"):
        generate_things_eeg2(tmp_path / "bad", signal="pixels", **SMALL)
    assert not (tmp_path / "bad").exists()
