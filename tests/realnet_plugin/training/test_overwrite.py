"""Issue 11, section 2: training the same subject and beta again keeps the registered model unless ``--overwrite``.

The registered files' bytes are compared before and after (hashlib, independently of the code under test); the
refusal comes before any model is built (building the teacher fails the test) and leaves no run folder behind.
"""
from __future__ import annotations

import hashlib
import json

import pytest

import realnet_plugin.training as training
from realnet_plugin.cli import main
from realnet_plugin.training.plan import check_registration

OPTIONS = ["--epochs", "1", "--batch-size", "8", "--image-size", "32", "--val-fraction", "0", "--teacher", "random",
           "--no-progress"]


def _digest(folder) -> dict:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("model.pt", "config.json")}


def test_a_registered_model_is_kept_unless_overwrite(tiny_root, realnet_home, tmp_path, capsys, monkeypatch):
    assert main(["train", "--subject", "1", "--beta", "10", "--out", str(tmp_path / "run1"), "--data-dir",
                 str(tiny_root), *OPTIONS]) == 0
    assert "replaced" not in capsys.readouterr().out
    folder = realnet_home / "models" / "realnet_s01_b10"
    kept = _digest(folder)

    build_teacher = training.build_teacher
    monkeypatch.setattr(training, "build_teacher", lambda *a, **k: pytest.fail("a model was built"))
    run2 = tmp_path / "run2"
    assert main(["train", "--subject", "1", "--beta", "10", "--out", str(run2), "--data-dir", str(tiny_root),
                 "--seed", "7", *OPTIONS]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.strip() == (f"realnet train: error: realnet_s01_b10 is already registered in {folder}; it is kept and "
                           "nothing was trained: pass --overwrite to train it again and replace it, or train another "
                           "subject / --beta")
    assert _digest(folder) == kept and not run2.exists()

    monkeypatch.setattr(training, "build_teacher", build_teacher)
    assert main(["train", "--subject", "1", "--beta", "10", "--out", str(run2), "--data-dir", str(tiny_root),
                 "--seed", "7", "--overwrite", *OPTIONS]) == 0
    out = capsys.readouterr().out
    assert "registered realnet_s01_b10" in out and "it replaced the model registered before (--overwrite)" in out
    replaced = _digest(folder)
    assert replaced["model.pt"] != kept["model.pt"]  # another seed: other weights, now registered
    assert json.loads((folder / "config.json").read_text())["weights_sha256"] == replaced["model.pt"]


def test_an_incomplete_model_folder_is_kept_too(realnet_home, tmp_path):
    folder = realnet_home / "models" / "realnet_s02_b100"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"the only copy of a run's weights")
    with pytest.raises(FileExistsError) as error:
        check_registration("realnet_s02_b100", overwrite=False)
    assert str(error.value) == (f"realnet_s02_b100 already has a model folder {folder}; it is kept and nothing was "
                                "trained: pass --overwrite to train it again and replace it, or train another "
                                "subject / --beta")
    assert check_registration("realnet_s02_b100", overwrite=True) == folder
    assert check_registration("realnet_s03_b100", overwrite=False) is None
    assert (folder / "model.pt").read_bytes() == b"the only copy of a run's weights"


def test_train_all_stops_before_the_first_model_on_an_incomplete_folder(tiny_root, realnet_home, tmp_path, capsys,
                                                                        monkeypatch):
    folder = realnet_home / "models" / "realnet_s01_b10"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # no model.pt: not registered, so planned as new
    monkeypatch.setattr(training, "build_teacher", lambda *a, **k: pytest.fail("a model was built"))
    assert main(["train-all", "--subjects", "1", "--betas", "10", "--runs-dir", str(tmp_path / "runs"),
                 "--data-dir", str(tiny_root), *OPTIONS]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"realnet train-all: error: realnet_s01_b10 already has a model folder {folder}; it is kept and "
                   "nothing was trained: pass `realnet train --overwrite` to train it again and replace it, or train "
                   "another subject / --beta")
    assert (folder / "config.json").read_text() == "{}"
