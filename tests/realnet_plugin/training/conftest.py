"""Shared fixtures for the training tests: one torch thread (the 2 CPU cores are shared), a tiny synthetic
THINGS-EEG2 dataset, and a random-initialisation CORnet-S teacher."""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import pytest
import torch

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from realnet_plugin.training import TrainConfig, build_teacher, load_eeg_targets

# glibc returns every large freed block (CORnet-S's 150 MB gradient buffers) to the OS and page-faults it back in on
# the next step: about 1 s of system time per training step here. Kept in the heap, a step takes ~40 % less time.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


@pytest.fixture(scope="session", autouse=True)
def keep_freed_memory():
    """``mallopt``: no mmap for large blocks, no trimming of the heap (glibc defaults restored afterwards)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):  # not glibc: nothing to tune
        yield
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**30)
    yield
    libc.mallopt(_M_MMAP_MAX, 65536)
    libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)


@pytest.fixture(autouse=True)
def one_thread():
    """Several intra-op threads on 2 shared cores run CORnet-S several times slower than one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """1 subject; 4 training concepts x 4 images, 8 test images, 32 px."""
    return generate_things_eeg2(tmp_path_factory.mktemp("train-data") / "things-eeg2", n_subjects=1,
                                n_test_images=8, n_train_concepts=4, n_train_per_concept=4, n_test_repetitions=4,
                                image_size=32, progress=False)


@pytest.fixture(scope="session")
def tiny_targets(tiny_root):
    return load_eeg_targets(1, tiny_root)


@pytest.fixture
def teacher() -> torch.nn.Module:
    """A random-initialisation CORnet-S (seed 0): the same network on every call."""
    return build_teacher("random", seed=0)[0]


@pytest.fixture
def tiny_config() -> TrainConfig:
    """32 px, batch 6, 2 epochs; one of the 4 concepts held out (12 training images = 2 steps per epoch)."""
    return TrainConfig(subject=1, beta=10.0, epochs=2, batch_size=6, lr=1e-4, image_size=32, val_fraction=0.25)
