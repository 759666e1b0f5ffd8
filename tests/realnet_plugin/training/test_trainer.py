import json

import numpy as np
import pytest
import torch
from PIL import Image

import model_registry
from model_registry.cornet import cornet_s_network
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, head_name
from realnet_plugin.training import CheckpointError, TrainConfig, build_student, evaluate, train


class Stop(Exception):
    """Stands in for a kill: raised after an epoch's checkpoint was written."""


def _stop_after(epoch):
    def callback(record):
        if record["epoch"] == epoch:
            raise Stop

    return callback


def test_parameter_count_and_layer_shapes_at_224():
    student = build_student(TrainConfig(), 340, cornet_s_network())
    assert sum(p.numel() for p in student.parameters()) == 101_760_508
    shapes = {layer: tuple(getattr(student, head_name(layer)).weight.shape) for layer in ("V1", "V2", "V4", "IT")}
    assert shapes == {"V1": (128, 200704), "V2": (128, 100352), "V4": (128, 50176), "IT": (128, 25088)}
    assert tuple(student.fc.weight.shape) == (340, 512)
    fmri = ReAlnet(ReAlnetConfig(image_size=32, n_output=1024))  # the ReAlnet-fMRI variant: only n_output changes
    logits, pred = fmri(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 1000) and pred.shape == (2, 1024)


def test_one_backbone_forward_per_step_and_teacher_labels_from_cache(tiny_targets, teacher, tmp_path):
    calls = {"teacher": 0, "student": 0}

    def count(module, inputs, output):
        calls["teacher" if module is teacher.V1 else "student"] += 1

    # every backbone pass starts with V1; the hook is deep-copied into the student's backbone with the weights
    teacher.V1.register_forward_hook(count)
    config = TrainConfig(subject=1, beta=10.0, epochs=2, batch_size=4, lr=1e-4, image_size=32, val_fraction=0.0,
                         label_batch_size=8)
    result = train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    assert calls == {"teacher": 2, "student": 2 * 4}  # 16 images: 2 label batches of 8; 4 steps x 2 epochs
    with torch.no_grad():
        pixels = torch.stack([Preprocessing(32)(Image.open(path)) for path in tiny_targets.training.paths])
        expected = teacher.eval()(pixels).argmax(1).numpy()
    np.testing.assert_array_equal(result.labels["training"], expected)
    calls.update(teacher=0, student=0)
    train(TrainConfig(**{**config.__dict__, "epochs": 1}), tiny_targets, teacher, tmp_path / "again",
          register=False, progress=False)
    assert calls == {"teacher": 0, "student": 4}  # the second run reads the labels from the disk cache


def test_kill_and_resume_matches_an_uninterrupted_run_and_registers(tiny_targets, teacher, tiny_config, tmp_path):
    whole = train(tiny_config, tiny_targets, teacher, tmp_path / "whole", progress=False)
    with pytest.raises(Stop):
        train(tiny_config, tiny_targets, teacher, tmp_path / "killed", models_root=tmp_path / "models",
              progress=False, on_epoch_end=_stop_after(1))
    assert not (tmp_path / "models").exists()  # nothing registered by the killed run
    resumed = train(tiny_config, tiny_targets, teacher, tmp_path / "killed", resume=True,
                    models_root=tmp_path / "models", progress=False)

    final = [torch.load(run / "checkpoint.pt", weights_only=True) for run in (tmp_path / "whole",
                                                                             tmp_path / "killed")]
    assert final[0]["epoch"] == final[1]["epoch"] == 2
    for key, value in final[0]["model"].items():
        assert torch.equal(value, final[1]["model"][key]), key
    for a, b in zip(final[0]["optimizer"]["state"].values(), final[1]["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    strip = [{k: v for k, v in record.items() if k != "seconds"} for record in whole.log]
    assert strip == [{k: v for k, v in record.items() if k != "seconds"} for record in resumed.log]
    assert whole.best_epoch == resumed.best_epoch
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key

    # selection: the registered model is the epoch with the lowest held-out total loss
    assert [record["selection_split"] for record in whole.log] == ["val", "val"]
    best = min(whole.log, key=lambda record: record["val_total"])["epoch"]
    assert whole.best_epoch == best
    rows = (tmp_path / "whole" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_task,train_generation,train_total") and len(rows) == 3
    assert [json.loads(line)["epoch"] for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()] == [1, 2]

    # registered under $REALNET_HOME/models, found by the registry, holding the selected weights
    assert whole.registered.name == "realnet_s01_b10"
    assert "realnet_s01_b10" in model_registry.list_models("realnet*")
    run = TrainedRun.from_json((whole.registered / "config.json").read_text())
    assert run.subject == 1 and run.beta == 10 and run.config.image_size == 32 and run.preprocessing.image_size == 32
    assert run.info["best_epoch"] == best and len(run.info["log"]) == 2
    assert run.info["train_config"]["lr"] == 1e-4
    network = model_registry.load_model("realnet_s01_b10").network
    for key, value in network.state_dict().items():
        assert torch.equal(value, whole.model.realnet.state_dict()[key]), key


def test_corrupt_foreign_and_missing_checkpoints_are_clear_errors(tiny_targets, teacher, tmp_path):
    config = TrainConfig(subject=1, beta=10.0, epochs=1, batch_size=8, image_size=32, val_fraction=0.0)
    run = tmp_path / "run"
    train(config, tiny_targets, teacher, run, register=False, progress=False)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        train(config, tiny_targets, teacher, run, register=False, progress=False)
    with pytest.raises(CheckpointError, match=r"belongs to another run \(config beta: checkpoint 10.0, this run 100"):
        train(TrainConfig(**{**config.__dict__, "beta": 100.0}), tiny_targets, teacher, run, resume=True,
              register=False, progress=False)
    other_teacher = cornet_s_network()
    with pytest.raises(CheckpointError, match="fingerprint teacher"):
        train(config, tiny_targets, other_teacher, run, resume=True, register=False, progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(config, tiny_targets, teacher, tmp_path / "empty", resume=True, register=False, progress=False)

    checkpoint = run / "checkpoint.pt"
    content = checkpoint.read_bytes()
    checkpoint.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        train(config, tiny_targets, teacher, run, resume=True, register=False, progress=False)
    torch.save({"state_dict": teacher.state_dict()}, checkpoint)
    with pytest.raises(CheckpointError, match="not a ReAlnet training checkpoint"):
        train(config, tiny_targets, teacher, run, resume=True, register=False, progress=False)


def test_paper_exact_trains_on_all_images_and_selects_on_the_test_images(tiny_targets, teacher, tmp_path):
    config = TrainConfig(subject=1, beta=10.0, epochs=2, batch_size=8, lr=1e-4, image_size=32, val_fraction=0.25,
                         paper_exact=True, keep_checkpoints=True)
    result = train(config, tiny_targets, teacher, tmp_path / "run", register=False, progress=False)
    assert set(result.labels) == {"training", "test"}
    assert [record["selection_split"] for record in result.log] == ["test", "test"]
    first = ReAlnet(result.model.config, backbone=cornet_s_network())
    first.load_state_dict(torch.load(tmp_path / "run" / "checkpoints" / "epoch_001.pt", weights_only=True)["model"])
    losses = evaluate(first, tiny_targets.test, result.labels["test"], np.arange(8), beta=10.0,
                      preprocessing=Preprocessing(32), device=torch.device("cpu"), batch_size=8)
    assert losses["total"] == pytest.approx(result.log[0]["val_total"], rel=1e-5)
    assert result.best_epoch == min(result.log, key=lambda record: record["val_total"])["epoch"]


def test_bad_settings_are_rejected(tiny_targets, teacher, tmp_path):
    with pytest.raises(ValueError, match=r"beta must be >= 0 \(0 = plain teacher distillation\), got -1"):
        TrainConfig(beta=-1)
    with pytest.raises(ValueError, match="image_size must be a positive multiple of 32"):
        TrainConfig(image_size=50)
    with pytest.raises(ValueError, match="amp.* needs a CUDA device"):
        train(TrainConfig(subject=1, amp=True, image_size=32), tiny_targets, teacher, tmp_path, device="cpu",
              progress=False)
    with pytest.raises(ValueError, match="subject 2 but the targets are subject 1's"):
        train(TrainConfig(subject=2, image_size=32), tiny_targets, teacher, tmp_path, progress=False)
    with pytest.raises(ValueError, match="CORnet-S shaped"):
        train(TrainConfig(subject=1, image_size=32), tiny_targets, torch.nn.Sequential(torch.nn.Flatten()), tmp_path,
              progress=False)
