"""Issue 16 section 1 (align any registered backbone) and issue 14 section 4 (one model file, one checkpoint).

Uses the session's tiny generated THINGS-EEG2 data (conftest) and a randomly initialised torchvision ResNet-18 at
32 px. Expected values are computed here independently: numpy for the generation loss, torch's own state dicts
for weight equality, a second scoring path (the plain network) for the score.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision

from model_registry.realnet import MODEL_ID, ReAlnet, ReAlnetConfig, model_id
from model_registry.registry import build_network, get_spec
from realnet_plugin.training import TrainConfig, build_teacher, split_pixels, train
from realnet_plugin.training.checkpoint import load_checkpoint
from realnet_plugin.training.trainer import build_student, training_preprocessing

BACKBONE = "torchvision:resnet18"
RESNET_ID = "realnet_torchvision-resnet18_s01_b100"


def _config(**overrides) -> TrainConfig:
    values = dict(subject=1, beta=100.0, epochs=1, batch_size=6, lr=1e-4, image_size=32, val_fraction=0.25,
                  backbone=BACKBONE)
    return TrainConfig(**{**values, **overrides})


def _resnet_teacher():
    return build_teacher("random", seed=0, backbone=BACKBONE)


def _generation_loss_numpy(pred: np.ndarray, target: np.ndarray) -> float:
    """MSE + 1 - mean_i r(pred_i, target_i) + mean_{i != j} r(pred_i, target_j), written out in numpy."""
    mse = float(np.mean((pred - target) ** 2))
    n = len(pred)
    r = np.array([[np.corrcoef(pred[i], target[j])[0, 1] for j in range(n)] for i in range(n)])
    off = (r.sum() - np.trace(r)) / (n * (n - 1))
    return mse + 1.0 - float(np.mean(np.diag(r))) + float(off)


def test_ids_keep_cornet_form_and_write_backbone_colon_as_dash():
    assert model_id(1, 100) == "realnet_s01_b100"
    assert model_id(1, 100, "torchvision:resnet18") == RESNET_ID
    assert model_id(3, 0.5, "timm:vit_small_patch16_224") == "realnet_timm-vit_small_patch16_224_s03_b0p5"
    assert model_id(1, 100, modality="fmri") == "realnet-fmri_s01_b100"
    assert model_id(2, 10, "clip_rn101", "fmri") == "realnet-fmri_clip_rn101_s02_b10"
    match = MODEL_ID.fullmatch(RESNET_ID)
    assert (match["backbone"], match["subject"], match["beta"]) == ("torchvision-resnet18", "01", "100")
    assert MODEL_ID.fullmatch("realnet_s01_b100")["backbone"] is None
    with pytest.raises(ValueError, match="cannot form a ReAlnet id"):
        model_id(1, 100, "bad/name")
    assert _config().model_id == RESNET_ID


def test_default_layers_follow_the_backbones_region_map():
    regions = get_spec(BACKBONE).region_layer_map
    assert _config().layers == tuple(regions[r] for r in ("V1", "V2", "V4", "IT"))
    assert TrainConfig().layers == ("V1", "V2", "V4", "IT")  # CORnet-S unchanged


def test_resnet18_trains_registers_reloads_and_scores(tiny_targets, tiny_root, tmp_path):
    from realnet_plugin import score

    teacher, about = _resnet_teacher()
    result = train(_config(), tiny_targets, teacher, tmp_path / "run", progress=False, teacher_description=about)
    assert result.registered.name == RESNET_ID
    # issue 14 section 4: one resumable checkpoint and one final model file, nothing else holding weights
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "log.csv", "log.jsonl"]
    assert sorted(p.name for p in result.registered.iterdir()) == ["config.json", "model.pt"]
    # reloads: the registered network holds exactly the selected weights
    reloaded = build_network(RESNET_ID)
    assert isinstance(reloaded, torchvision.models.ResNet)
    expected = result.model.realnet.state_dict()
    assert reloaded.state_dict().keys() == expected.keys()
    assert all(torch.equal(reloaded.state_dict()[k], expected[k]) for k in expected)
    spec = get_spec(RESNET_ID)
    assert spec.region_layer_map == get_spec(BACKBONE).region_layer_map
    module = spec.generation_module
    # 32 px: conv1 64 x 16 x 16, layer2 128 x 4 x 4, layer3 256 x 2 x 2, layer4 512 x 1 x 1
    assert module["layer_features"] == [64 * 16 * 16, 128 * 4 * 4, 256 * 2 * 2, 512]
    assert module["reduce"] == "none" and module["backbone"] == BACKBONE
    # scores; a second path (the plain network with the same preprocessing) gives the same numbers
    options = dict(root=str(tiny_root), n_permutations=0, ceiling=False, window=[-0.1, 0.49],
                   layers=["layer3", "layer4"])
    by_id = score(RESNET_ID, "things-eeg-rsa-correlation", **options)
    by_network = score(reloaded, "things-eeg-rsa-correlation", preprocessing=spec.preprocessing, **options)
    similarity = np.asarray(by_id.attrs["similarity"])
    assert np.isfinite(similarity).all() and similarity.size > 0
    np.testing.assert_allclose(similarity, np.asarray(by_network.attrs["similarity"]), atol=1e-6)


def test_alignment_loss_decreases_without_task_loss(tiny_targets, tmp_path):
    teacher, about = _resnet_teacher()
    config = _config(epochs=6, lr=1e-3, beta=1.0, task_loss=False, holdout=False)
    split = tiny_targets.training
    pixels = split_pixels(split, training_preprocessing(config))
    start = build_student(config, tiny_targets.n_output, teacher).eval()  # the trainer's starting point (seeded)
    with torch.no_grad():
        before = _generation_loss_numpy(start(pixels)[1].double().numpy(), split.targets.astype(np.float64))
    result = train(config, tiny_targets, teacher, tmp_path / "run", progress=False, register=False)
    with torch.no_grad():
        after = _generation_loss_numpy(result.model(pixels)[1].double().numpy(), split.targets.astype(np.float64))
    assert after < before - 0.05, (before, after)
    losses = [record["train_generation"] for record in result.log]
    assert losses[-1] < losses[0]
    assert all(record["train_task"] == 0.0 for record in result.log)  # --no-task-loss: no teacher term


def test_resume_reproduces_the_uninterrupted_run_with_best_weights_in_the_checkpoint(tiny_targets, tmp_path):
    teacher, about = _resnet_teacher()
    whole = train(_config(epochs=3, lr=3e-3), tiny_targets, teacher, tmp_path / "whole", progress=False,
                  register=False)
    part = tmp_path / "part"
    train(_config(epochs=2, lr=3e-3), tiny_targets, teacher, part, progress=False, register=False)
    content = load_checkpoint(part / "checkpoint.pt")
    if content["best"]["epoch"] != content["epoch"]:  # the selected epoch's weights travel in the checkpoint
        assert content["best_model"] is not None
    else:
        assert content["best_model"] is None
    resumed = train(_config(epochs=3, lr=3e-3), tiny_targets, teacher, part, progress=False, register=False,
                    resume=True)
    assert resumed.best_epoch == whole.best_epoch
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (part / "best_model.pt").exists()
    assert [r["train_total"] for r in resumed.log] == [r["train_total"] for r in whole.log]


@pytest.mark.parametrize("kind", ["pool", "project"])
def test_reduction_before_the_encoders_is_fixed_and_stated(kind):
    torch.manual_seed(0)
    backbone = torchvision.models.resnet18(weights=None)
    sizes = (64 * 16 * 16, 512)
    config = ReAlnetConfig(image_size=32, layers=("conv1", "layer4"), backbone=BACKBONE, feature_sizes=sizes,
                           reduce=kind, reduce_dim=1024, reduce_seed=7)
    model = ReAlnet(config, backbone=backbone).eval()
    if kind == "pool":  # 64 channels: the largest s with 64 * s * s <= 1024 is 4; layer4 (512 <= 1024) untouched
        assert model.fc_conv1.in_features == 64 * int(math.isqrt(1024 // 64)) ** 2 == 1024
        assert model.fc_layer4.in_features == 512
    else:
        assert model.fc_conv1.in_features == model.fc_layer4.in_features == 1024
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        conv1 = backbone.conv1(images)
        if kind == "pool":
            reduced = torch.nn.functional.adaptive_avg_pool2d(conv1, 4).flatten(1)
        else:
            generator = torch.Generator().manual_seed(7)
            reduced = conv1.flatten(1) @ (torch.randn(sizes[0], 1024, generator=generator) / math.sqrt(1024))
        np.testing.assert_allclose(model._encode("conv1", conv1).numpy(),
                                   torch.relu(model.fc_conv1(reduced)).numpy(), rtol=1e-5, atol=1e-5)
        # rebuilt from its config and state dict (the projection is regenerated from the seed): same outputs
        twin = ReAlnet(config, backbone=torchvision.models.resnet18(weights=None)).eval()
        assert "reducers" not in "".join(model.state_dict())  # nothing of the reduction is stored as weights
        twin.load_state_dict(model.state_dict())
        torch.testing.assert_close(twin(images)[1], model(images)[1])


def test_large_projection_and_cornet_reduction_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"layer 'conv1': a random projection of 802816 features"):
        ReAlnet(ReAlnetConfig(image_size=224, layers=("conv1",), backbone=BACKBONE, feature_sizes=(802816,),
                              reduce="project", reduce_dim=4096), backbone=torchvision.models.resnet18(weights=None))
    with pytest.raises(ValueError, match="full-size encoders"):
        TrainConfig(reduce="pool")
    with pytest.raises(ValueError, match=r"^backbone torchvision:resnet18 has no module 'nope'"):
        build_student(_config(layers=("nope",)), 340, torchvision.models.resnet18(weights=None))


def test_cli_trains_a_backbone_and_plans_its_ids(tiny_root, realnet_home, capsys):
    from realnet_plugin import list_models
    from realnet_plugin.cli import main

    options = ["--epochs", "1", "--batch-size", "8", "--image-size", "32", "--val-fraction", "0", "--data-dir",
               str(tiny_root), "--teacher", "random", "--no-progress", "--backbone", BACKBONE]
    assert main(["train", "--subject", "1", "--beta", "100", *options]) == 0
    assert f"registered {RESNET_ID}" in capsys.readouterr().out
    assert RESNET_ID in list_models("realnet*")
    assert sorted(p.name for p in (realnet_home / "runs" / RESNET_ID).iterdir()) == [
        "checkpoint.pt", "log.csv", "log.jsonl"]
    # train-all plans this backbone's ids: subject 1 is done, subject 2 is new, under its own id
    assert main(["train-all", "--subjects", "1-2", "--betas", "100", "--print-commands", *options]) == 0
    out = capsys.readouterr().out
    assert "1 done" in out and "1 new" in out and "--backbone torchvision:resnet18" in out
    assert str(realnet_home / "runs" / "realnet_torchvision-resnet18_s02_b100") in out
