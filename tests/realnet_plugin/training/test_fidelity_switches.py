"""The authors' behaviours as separate switches (issue 12, section 4): paper_exact sets them, each works on its own.

References are computed independently: BatchNorm running statistics by actually running the backbone twice in train
mode (the authors' forward), train-mode teacher labels by running a train-mode copy of the teacher on the batch.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import realnet_plugin.training.trainer as trainer_module
from model_registry.preprocessing import Preprocessing
from realnet_plugin.cli import build_parser
from realnet_plugin.cli import train as cli_train
from realnet_plugin.training import TrainConfig, build_student, train
from realnet_plugin.training.checkpoint import load_checkpoint, save_checkpoint
from realnet_plugin.training.trainer import TrainModeTeacher, apply_bn_passes, effective_momentum


def _pixels(split) -> torch.Tensor:
    return torch.stack([Preprocessing(32)(Image.open(path)) for path in split.paths])


def _running_stats(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


def test_paper_exact_sets_every_switch_and_explicit_values_win():
    default = TrainConfig()
    assert (default.detach_correlation, default.select_on_test, default.holdout, default.bn_passes,
            default.teacher_bn) == (False, False, True, 1, "eval")
    assert default.selection_split == "val" and default.holdout_fraction == 0.1
    paper = TrainConfig(paper_exact=True)
    assert (paper.detach_correlation, paper.select_on_test, paper.holdout, paper.bn_passes) == (True, True, False, 2)
    assert paper.selection_split == "test" and paper.holdout_fraction == 0.0 and paper.teacher_bn == "eval"
    mixed = TrainConfig(paper_exact=True, bn_passes=1, detach_correlation=False)
    assert (mixed.detach_correlation, mixed.select_on_test, mixed.holdout, mixed.bn_passes) == (False, True, False, 1)
    alone = TrainConfig(select_on_test=True)  # one switch: test selection, the held-out split still held out
    assert alone.selection_split == "test" and alone.holdout_fraction == 0.1 and not alone.detach_correlation
    assert TrainConfig(holdout=False).selection_split is None  # no held-out split and no test selection: last epoch
    assert TrainConfig.from_dict(paper.to_dict()) == paper
    assert effective_momentum(0.1, 2) == pytest.approx(0.19, abs=1e-15)
    with pytest.raises(ValueError, match="bn_passes must be a positive integer"):
        TrainConfig(bn_passes=0)
    with pytest.raises(ValueError, match=r"teacher_bn must be one of \['eval', 'train'\], got 'batch'"):
        TrainConfig(teacher_bn="batch")


def test_bn_passes_two_equals_running_the_backbone_twice(teacher):
    torch.manual_seed(0)
    images = torch.randn(6, 3, 32, 32)
    twice, once = copy.deepcopy(teacher).train(), copy.deepcopy(teacher).train()
    with torch.no_grad():
        twice(images)  # the authors: logits pass ...
        features = images
        for name in ("V1", "V2", "V4", "IT"):  # ... then V1..IT again for the EEG features
            features = getattr(twice, name)(features)
        apply_bn_passes(once, 2)
        once(images)
    expected, ours = _running_stats(twice.state_dict()), _running_stats(once.state_dict())
    assert expected.keys() == ours.keys() and len(ours) > 10
    for key in expected:
        torch.testing.assert_close(ours[key], expected[key], rtol=1e-5, atol=1e-6)
    single = copy.deepcopy(teacher).train()
    with torch.no_grad():
        single(images)
    assert not torch.allclose(_running_stats(single.state_dict())["V1.norm1.running_mean"],
                              expected["V1.norm1.running_mean"])  # one pass differs: the test can fail


@pytest.mark.parametrize("passes", [1, 2])
def test_trainer_running_statistics_follow_bn_passes(tiny_targets, teacher, tmp_path, passes):
    # one step per epoch (all 16 training images in one batch): after it, the running statistics depend only on the
    # starting weights and that batch (batch statistics do not depend on the order of the images)
    config = TrainConfig(subject=1, beta=10.0, epochs=1, batch_size=16, lr=1e-4, image_size=32, holdout=False,
                         bn_passes=passes)
    train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    stored = _running_stats(load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"])
    reference = build_student(TrainConfig(image_size=32), tiny_targets.n_output, teacher).realnet.train()
    pixels = _pixels(tiny_targets.training)
    with torch.no_grad():
        for _ in range(passes):  # the authors' forward when passes == 2
            reference(pixels)
    expected = _running_stats(reference.state_dict())
    for key, value in expected.items():
        torch.testing.assert_close(stored[f"realnet.{key}"], value, rtol=1e-4, atol=1e-5)


def test_train_mode_teacher_labels_use_the_batch_statistics(tiny_targets, teacher, tmp_path):
    pixels = _pixels(tiny_targets.training)
    teacher.eval()
    before = copy.deepcopy(teacher.state_dict())
    labels = TrainModeTeacher(teacher, torch.device("cpu"), torch.float32)(pixels)
    with torch.no_grad():
        expected_logits = copy.deepcopy(teacher).train()(pixels)
    np.testing.assert_array_equal(labels.numpy(), expected_logits.argmax(1).numpy())
    for key, value in teacher.state_dict().items():  # the caller's teacher is untouched
        assert torch.equal(value, before[key]), key

    # one training step over all 16 images: the student starts as the teacher, in train mode, so its logits are
    # the train-mode teacher's and the logged task loss is their cross-entropy with their own argmax
    config = TrainConfig(subject=1, beta=10.0, epochs=1, batch_size=16, lr=1e-4, image_size=32, holdout=False,
                         teacher_bn="train")
    result = train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    assert result.labels == {}  # nothing precomputed or cached in train mode
    expected = F.cross_entropy(expected_logits, expected_logits.argmax(1)).item()
    assert result.log[0]["train_task"] == pytest.approx(expected, rel=1e-4)
    with torch.no_grad():
        eval_labels = copy.deepcopy(teacher).eval()(pixels).argmax(1)
    eval_loss = F.cross_entropy(expected_logits, eval_labels).item()
    assert abs(eval_loss - expected) > 1e-3  # eval-mode labels would log another loss: the test can fail


def test_detach_correlation_reaches_the_loss_on_its_own(tiny_targets, teacher, tmp_path, monkeypatch):
    seen = []
    original = trainer_module.realnet_loss

    def spy(*args, **kwargs):
        seen.append(kwargs["paper_exact"])
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "realnet_loss", spy)
    base = dict(subject=1, beta=10.0, epochs=1, batch_size=16, lr=1e-4, image_size=32, holdout=False)
    train(TrainConfig(**base, detach_correlation=True), tiny_targets, teacher, tmp_path / "a", register=False,
          progress=False)
    assert seen == [True]
    seen.clear()
    train(TrainConfig(**base), tiny_targets, teacher, tmp_path / "b", register=False, progress=False)
    assert seen == [False]


def test_holdout_and_test_selection_are_separate(tiny_targets, teacher, tmp_path):
    config = TrainConfig(subject=1, beta=10.0, epochs=1, batch_size=4, lr=1e-4, image_size=32, val_fraction=0.25,
                         select_on_test=True)
    result = train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    assert set(result.labels) == {"training", "test"} and result.log[0]["selection_split"] == "test"
    content = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert content["config"]["holdout"] is True and content["config"]["select_on_test"] is True
    # 16 training images, 1 of 4 concepts held out: 12 train in batches of 4 = 3 steps (not 4)
    assert len(content["optimizer"]["state"]) > 0
    steps = int(next(iter(content["optimizer"]["state"].values()))["step"])
    assert steps == 3
    whole = TrainConfig(**{**config.__dict__, "holdout": False})
    train(whole, tiny_targets, teacher, tmp_path / "whole", register=False, progress=False)
    content = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    assert int(next(iter(content["optimizer"]["state"].values()))["step"]) == 4  # every image trains


def test_checkpoints_written_before_the_switches_resume(tiny_targets, teacher, tmp_path):
    config = TrainConfig(subject=1, beta=10.0, epochs=1, batch_size=8, lr=1e-4, image_size=32, val_fraction=0.0)
    train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    content = load_checkpoint(path)
    for key in ("detach_correlation", "select_on_test", "holdout", "bn_passes", "teacher_bn"):
        del content["config"][key]  # as an older version wrote it
    save_checkpoint(path, {k: v for k, v in content.items() if k not in ("format", "version")})
    longer = TrainConfig(**{**config.__dict__, "epochs": 2})
    result = train(longer, tiny_targets, teacher, tmp_path / "run", resume=True, register=False, progress=False)
    assert [record["epoch"] for record in result.log] == [1, 2]


def test_cli_switches_reach_the_config_and_the_job_commands():
    parser = build_parser()
    args = parser.parse_args(["train", "--subject", "1", "--paper-exact", "--no-detach-correlation",
                              "--teacher-bn", "train"])
    config = cli_train._config(args, 1, 100.0)
    assert (config.detach_correlation, config.select_on_test, config.holdout, config.bn_passes,
            config.teacher_bn) == (False, True, False, 2, "train")
    words = cli_train.shared_option_words(args)
    assert "--no-detach-correlation" in words and "--paper-exact" in words
    assert words[words.index("--teacher-bn") + 1] == "train"
    again = parser.parse_args(["train", "--subject", "1", *words])
    assert cli_train._config(again, 1, 100.0) == config
