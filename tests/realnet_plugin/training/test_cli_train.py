import shlex
import shutil

import pytest
import torch

from realnet_plugin import list_models
from realnet_plugin.cli import main
from realnet_plugin.training import TrainConfig, build_student, build_teacher
from realnet_plugin.training.plan import parse_betas, parse_subjects, plan_runs


def _options(root, epochs=1):
    return ["--epochs", str(epochs), "--batch-size", "8", "--image-size", "32", "--val-fraction", "0", "--data-dir",
            str(root), "--teacher", "random", "--no-progress"]


def test_train_resume_and_train_all(tiny_root, realnet_home, capsys):
    assert main(["train", "--subject", "1", "--beta", "10", *_options(tiny_root)]) == 0
    assert "registered realnet_s01_b10" in capsys.readouterr().out
    assert "realnet_s01_b10" in list_models("realnet*")
    run_dir = realnet_home / "runs" / "realnet_s01_b10"
    assert (run_dir / "log.csv").read_text().count("\n") == 2

    assert main(["train", "--subject", "1", "--beta", "10", *_options(tiny_root)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--resume" in err
    assert main(["train", "--subject", "1", "--beta", "10", "--resume", "--overwrite",  # replaces the registered one
                 *_options(tiny_root, epochs=2)]) == 0
    assert "epoch 2 of 2" in capsys.readouterr().out
    assert (run_dir / "log.csv").read_text().count("\n") == 3

    # a run with a checkpoint but no registered model is resumed; registered ones are skipped
    (realnet_home / "runs" / "realnet_s02_b10").mkdir(parents=True)
    shutil.copy(run_dir / "checkpoint.pt", realnet_home / "runs" / "realnet_s02_b10" / "checkpoint.pt")
    jobs = realnet_home / "jobs.txt"
    assert main(["train-all", "--subjects", "1-2", "--betas", "10,100", "--print-commands", "--write-jobs", str(jobs),
                 *_options(tiny_root)]) == 0
    out = capsys.readouterr().out
    assert "4 runs planned: 1 done, 1 to resume, 2 new" in out
    commands = [shlex.split(line) for line in jobs.read_text().splitlines()]
    assert [(c[c.index("--subject") + 1], c[c.index("--beta") + 1], "--resume" in c) for c in commands] == [
        ("1", "100", False), ("2", "10", True), ("2", "100", False)]
    assert all(c[:2] == ["realnet", "train"] and c[c.index("--epochs") + 1] == "1" and "--no-progress" in c
               and c[c.index("--data-dir") + 1] == str(tiny_root) for c in commands)
    assert "--val-fraction" in commands[0] and "--lr" not in commands[0]  # only options that differ from defaults
    assert all(shlex.join(c) in out for c in commands)

    # sequential: skips the registered run, trains the other (beta 0: plain distillation)
    assert main(["train-all", "--subjects", "1", "--betas", "10,0", *_options(tiny_root)]) == 0
    out = capsys.readouterr().out
    assert "2 runs planned: 1 done, 0 to resume, 1 new" in out and "registered realnet_s01_b0 " in out
    assert "realnet_s01_b10 (" not in out
    assert {"realnet_s01_b0", "realnet_s01_b10"} <= set(list_models("realnet*"))
    assert [run.status for run in plan_runs([1], [0, 10, 1000])] == ["done", "done", "new"]
    # beta 0 leaves the EEG module exactly as initialised
    trained = torch.load(realnet_home / "models" / "realnet_s01_b0" / "model.pt", weights_only=True)
    start = build_student(TrainConfig(subject=1, beta=0.0, image_size=32), 340, build_teacher("random", 0)[0])
    assert torch.equal(trained["fc.weight"], start.fc.weight) and torch.equal(trained["fc_v1.bias"], start.fc_v1.bias)
    assert not torch.equal(trained["realnet.decoder.linear.weight"], start.realnet.decoder.linear.weight)


def test_clear_errors(tiny_root, tmp_path, capsys):
    assert main(["train", "--subject", "1", "--beta", "-1", *_options(tiny_root)]) == 1
    assert "beta must be >= 0" in capsys.readouterr().err
    assert main(["train", "--subject", "1", *_options(tmp_path / "missing")]) == 1
    assert "THINGS-EEG2 root not found" in capsys.readouterr().err
    assert main(["train", "--subject", "1", "--amp", "--device", "cpu", *_options(tiny_root)]) == 1
    assert "needs a CUDA device" in capsys.readouterr().err
    assert main(["train-all", "--betas", "1,x", "--print-commands"]) == 1
    assert "'x' is not a number" in capsys.readouterr().err


def test_parse_subjects_and_betas():
    assert parse_subjects("1-10") == list(range(1, 11))
    assert parse_subjects("3,1,5-6,1") == [1, 3, 5, 6]
    assert parse_betas("1,10,100,1000") == [1.0, 10.0, 100.0, 1000.0]
    with pytest.raises(ValueError, match="subjects start at 1"):
        parse_subjects("0-2")
    with pytest.raises(ValueError, match="expected numbers and ranges"):
        parse_subjects("one")
    with pytest.raises(ValueError, match="betas must be >= 0"):
        parse_betas("1,-10")
