"""Issue 11, section 1 for ``realnet train`` / ``train-all``: data, subjects and run folders are checked before the
teacher (the first model) is built; each error is one line naming the file or value."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import realnet_plugin.training as training
from realnet_plugin.cli import main

OPTIONS = ["--epochs", "1", "--batch-size", "8", "--image-size", "32", "--val-fraction", "0", "--teacher", "random",
           "--no-progress"]


@pytest.fixture
def no_teacher(monkeypatch) -> None:
    """Building the teacher (the first model) fails the test."""
    monkeypatch.setattr(training, "build_teacher", lambda *a, **k: pytest.fail("a model was built"))


@pytest.fixture
def root_copy(tiny_root, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_root, tmp_path / "things-eeg2"))


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_train_all_checks_every_subject_before_the_first_model(tiny_root, tmp_path, no_teacher, capsys):
    runs = tmp_path / "runs"
    line = _error(capsys, ["train-all", "--subjects", "1-3", "--betas", "10", "--runs-dir", str(runs),
                           "--data-dir", str(tiny_root), *OPTIONS])
    folder = tiny_root / "preprocessed_data"
    assert line == (f"realnet train-all: error: subjects [2, 3] lack preprocessed_eeg_training.npy and/or "
                    f"preprocessed_eeg_test.npy under {folder} (found training EEG for subjects [1], test EEG for "
                    "[1]); add their data or leave them out of --subjects")
    assert not runs.exists()


def test_train_without_subject_folders_names_the_folder(root_copy, no_teacher, capsys):
    folder = root_copy / "preprocessed_data"
    shutil.move(folder / "sub-01", folder / "s01")
    line = _error(capsys, ["train", "--subject", "1", "--data-dir", str(root_copy), *OPTIONS])
    assert line == (f"realnet train: error: subject 1 not found: no folder {folder}/sub-01; subjects found: none "
                    f"({folder} holds s01/; expected folders sub-01, sub-02, ...)")


def test_train_on_all_zero_eeg_names_the_file(root_copy, no_teacher, capsys):
    path = root_copy / "preprocessed_data" / "sub-01" / "preprocessed_eeg_training.npy"
    content = np.load(path, allow_pickle=True).item()  # our own generated file
    content["preprocessed_eeg_data"] = np.zeros_like(content["preprocessed_eeg_data"])
    np.save(path, content, allow_pickle=True)
    line = _error(capsys, ["train", "--subject", "1", "--data-dir", str(root_copy), *OPTIONS])
    assert line.startswith(f"realnet train: error: {path}: 'preprocessed_eeg_data' is all zeros")


def test_resume_without_a_checkpoint_is_refused_first(tiny_root, tmp_path, no_teacher, capsys):
    out = tmp_path / "run"
    line = _error(capsys, ["train", "--subject", "1", "--resume", "--out", str(out), "--data-dir", str(tiny_root),
                           *OPTIONS])
    assert line == (f"realnet train: error: --resume: no checkpoint {out / 'checkpoint.pt'} to continue from; drop "
                    "--resume to start anew")
    assert not out.exists()


def test_bad_shared_options_fail_before_planning(tiny_root, tmp_path, no_teacher, capsys):
    line = _error(capsys, ["train-all", "--subjects", "1", "--betas", "10", "--runs-dir", str(tmp_path / "runs"),
                           "--data-dir", str(tiny_root), *OPTIONS, "--lr", "0"])
    assert line == "realnet train-all: error: lr must be > 0, got 0.0"
