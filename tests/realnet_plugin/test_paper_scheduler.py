"""``realnet paper --scheduler``: the EEG RDMs computed one task per subject elsewhere equal the serial ones, land
in this process's RDM cache under the key scoring reads, and the paper run then computes no EEG RDM itself."""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import pdist

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.things_eeg_rsa import benchmark as eeg_benchmark
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, save_trained
from model_registry.storage.paths import models_dir
from realnet_plugin import load_benchmark
from realnet_plugin.paper import prefetch_eeg_rdms, run_paper

EEG_ID = "things-eeg-rsa-correlation"
BASELINE = ("torchvision:resnet18",)  # another architecture: no layer shared with the family
OPTIONS = {"ceiling": False, "n_permutations": 4, "min_cluster_length": 1}


@contextmanager
def _home(path):
    previous = os.environ["REALNET_HOME"]
    os.environ["REALNET_HOME"] = str(path)
    try:
        yield
    finally:
        os.environ["REALNET_HOME"] = previous


class ElsewhereBackend:
    """A scheduler stand-in whose tasks run with another ``$REALNET_HOME`` (a worker on another file system);
    records the tasks it ran."""

    def __init__(self, home):
        self.home, self.tasks = home, []

    def submit(self, fn, *args):
        self.tasks.append(args)
        with _home(self.home):
            return fn(*args)

    def result(self, future):
        return future


def _eeg_calls(monkeypatch) -> list:
    calls = []
    real = eeg_benchmark.eeg_rdms

    def counted(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("method"))
        return real(*args, **kwargs)
    monkeypatch.setattr(eeg_benchmark, "eeg_rdms", counted)
    return calls


def test_prefetch_equals_serial_and_the_paper_run_computes_no_eeg_rdm(tmp_path, monkeypatch):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=3, n_test_images=6, n_train_concepts=2,
                                n_train_per_concept=1, n_test_repetitions=4, n_train_repetitions=2, image_size=32,
                                progress=False)
    config = ReAlnetConfig(image_size=32)
    for subject in (1, 2, 3):
        torch.manual_seed(subject)
        save_trained(ReAlnet(config), TrainedRun(subject=subject, beta=100.0, config=config,
                                                 preprocessing=Preprocessing(32)), root=models_dir())
    calls = _eeg_calls(monkeypatch)
    backend = ElsewhereBackend(tmp_path / "worker-home")
    found = prefetch_eeg_rdms(root, EEG_ID, OPTIONS, backend)
    assert [args[3] for args in backend.tasks] == [1, 2, 3]  # one task per subject
    assert len(calls) == 3 and (tmp_path / "worker-home" / "cache").is_dir()

    # identical to serial (the benchmark without cache) and to a hand computation (1 - Pearson of the
    # repetition means, scipy)
    serial = load_benchmark(EEG_ID, root=str(root), cache=False, **OPTIONS).eeg()[1]
    for index, subject in enumerate((1, 2, 3)):
        np.testing.assert_array_equal(found[subject], serial[index])
        content = np.load(root / "preprocessed_data" / f"sub-{subject:02d}" / "preprocessed_eeg_test.npy",
                          allow_pickle=True).item()  # written by the generator above
        means = content["preprocessed_eeg_data"].mean(axis=1)  # (images, channels, times)
        for t in (0, 37, 99):
            np.testing.assert_allclose(found[subject][t], pdist(means[:, :, t], "correlation"), atol=1e-12)

    # scoring reads them from this process's cache: no EEG RDM computed here
    calls.clear()
    load_benchmark(EEG_ID, root=str(root), **OPTIONS).eeg()
    assert calls == []
    # run_paper with a scheduler: the workers (a fresh home) compute each subject once, this process none
    backend = ElsewhereBackend(tmp_path / "worker-home-2")
    with pytest.warns(UserWarning, match=r"no improvement of realnet_s\*_b100 over torchvision:resnet18: they "
                                         r"share no layer"):
        run = run_paper(root, tmp_path / "paper", models="realnet_s*_b100", baselines=BASELINE,
                        method="correlation", options=OPTIONS, n_permutations=4, n_bootstrap=0, scheduler=backend,
                        random_weights=True, progress=None)
    assert len(calls) == 3 and len(backend.tasks) == 3 and "eeg_realnet_s*_b100" in run.computed
    # a baseline of another architecture: its time course, no improvement row (no shared layer)
    assert "eeg_torchvision:resnet18" in run.computed and (tmp_path / "paper" / "figures" /
                                                           "eeg_torchvision_resnet18.png").is_file()
    assert len(pd.read_csv(tmp_path / "paper" / "improvement.csv")) == 0
    # and its table equals a serial run's in a fresh home (every RDM computed there, in this process)
    calls.clear()
    serial_out = tmp_path / "serial"
    monkeypatch.setenv("REALNET_HOME", str(tmp_path / "serial-home"))
    save_home = models_dir()
    for subject in (1, 2, 3):
        torch.manual_seed(subject)
        save_trained(ReAlnet(config), TrainedRun(subject=subject, beta=100.0, config=config,
                                                 preprocessing=Preprocessing(32)), root=save_home)
    run_paper(root, serial_out, models="realnet_s*_b100", baselines=BASELINE, method="correlation",
              options=OPTIONS, n_permutations=4, n_bootstrap=0, random_weights=True, progress=None)
    assert len(calls) == 3  # the serial run computed them itself
    pd.testing.assert_frame_equal(pd.read_csv(serial_out / "results.csv"),
                                  pd.read_csv(tmp_path / "paper" / "results.csv"))


def test_scheduler_refusals_come_before_any_work(tmp_path):
    root = generate_things_eeg2(tmp_path / "d", n_subjects=2, n_test_images=4, n_train_concepts=1,
                                n_train_per_concept=1, n_test_repetitions=2, n_train_repetitions=2, image_size=16,
                                progress=False)
    with pytest.raises(ValueError, match="--scheduler must be 'local', 'local:N' or an address"):
        run_paper(root, tmp_path / "o", baselines=(), scheduler="somewhere:8786", progress=None)
    assert not (tmp_path / "o").exists()
    backend = ElsewhereBackend(tmp_path / "w")
    with pytest.raises(ValueError, match="cache=false turns it off"):
        prefetch_eeg_rdms(root, EEG_ID, {**OPTIONS, "cache": False}, backend)
    assert backend.tasks == []
