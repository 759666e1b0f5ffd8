"""Synthetic EEG in the THINGS-EEG2 layout (images, repetitions, channels, times): unit noise around image
patterns whose strength rises after 'stimulus onset', like noise-normalised evoked responses."""
from __future__ import annotations

import numpy as np
import pytest


def synthetic_eeg(n_images=6, n_reps=80, n_channels=17, n_times=8, strength=0.6, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    envelope = np.clip(np.linspace(-0.5, 1.5, n_times), 0, 1) * strength  # silent first time points
    patterns = rng.normal(size=(n_images, 1, n_channels, 1)) * envelope
    return patterns + rng.normal(size=(n_images, n_reps, n_channels, n_times))


@pytest.fixture(scope="session")
def make_eeg():
    """The generator itself, for tests that need other sizes."""
    return synthetic_eeg


@pytest.fixture
def eeg() -> np.ndarray:
    return synthetic_eeg()


@pytest.fixture
def small_eeg() -> np.ndarray:
    """Few repetitions and channels: fast enough for the reference tools' loops."""
    return synthetic_eeg(n_images=5, n_reps=20, n_channels=6, n_times=7, seed=1)
