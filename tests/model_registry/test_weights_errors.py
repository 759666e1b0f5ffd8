"""Issue 11, section 1, "Weights files": one line naming the file and the first key / tensor that does not fit.

Every bad file is written here by hand (``torch.save``, raw bytes, a pickle built with ``__reduce__``); the expected
key, shape and global are derived independently of the code under test (from the network's own ``state_dict``, the
CORnet-S / ReAlnet layer sizes of REFERENCE.md, ``os.system``'s own module). Every message must be one line, name
the file, and never carry torch's advice to pass ``weights_only=False``; the network must be unchanged after a
refused load.
"""
from __future__ import annotations

import json
import os
import pickle
from collections import OrderedDict

import pytest
import torch
from torch import nn

from model_registry import cornet, get_spec
from model_registry.clip_models import openai_state_dict
from model_registry.realnet import (
    ReAlnet,
    ReAlnetConfig,
    TrainedModelError,
    TrainedRun,
    load_realnet_weights,
    model_id,
    save_trained,
)
from model_registry.weights import WeightsFileError, load_weights, read_state_dict


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3)), ("norm", nn.BatchNorm2d(4)),
                                      ("fc", nn.Linear(4, 2))]))


def _snapshot(network: nn.Module) -> dict:
    return {key: value.clone() for key, value in network.state_dict().items()}


def _refused(network: nn.Module, path, **kwargs) -> str:
    """The message of a refused load; asserts the rules every such message follows."""
    before = _snapshot(network)
    with pytest.raises(WeightsFileError) as error:
        load_weights(network, path, **kwargs)
    message = str(error.value)
    assert "\n" not in message and "weights_only=False" not in message and "trusted source" not in message
    assert str(path) in message
    after = network.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before), "a refused file changed the network"
    return message


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_good_file_with_module_prefixes_loads_exactly(tmp_path):
    source, target = _net(), nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3)), ("norm", nn.BatchNorm2d(4)),
                                                        ("fc", nn.Linear(4, 2))]))
    path = tmp_path / "good.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    load_weights(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_empty_random_and_truncated_files(tmp_path):
    network = _net()
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert "the file is empty (0 bytes)" in _refused(network, empty)

    noise = tmp_path / "noise.pth"
    noise.write_bytes(bytes(range(7, 250)) * 5)
    assert "not a file written by torch.save" in _refused(network, noise)
    html = tmp_path / "AccessDenied.pth"  # what a failed download leaves
    html.write_bytes(b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>")
    assert "not a file written by torch.save" in _refused(network, html)

    whole = tmp_path / "whole.pth"
    torch.save(network.state_dict(), whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    assert f"a truncated or damaged torch archive ({len(data) // 2} bytes" in _refused(network, cut)

    legacy = tmp_path / "legacy.pth"
    torch.save(network.state_dict(), legacy, _use_new_zipfile_serialization=False)
    data = legacy.read_bytes()
    legacy_cut = tmp_path / "legacy_cut.pth"
    legacy_cut.write_bytes(data[: len(data) // 2])
    assert "a truncated or damaged legacy torch file" in _refused(network, legacy_cut)

    missing = tmp_path / "absent.pth"
    assert "no such file" in _refused(network, missing)


@pytest.mark.parametrize("kind", ["zip", "legacy", "plain-pickle"])
def test_a_pickle_that_would_run_code_is_refused_naming_the_global(tmp_path, kind):
    path = tmp_path / f"evil-{kind}.pth"
    payload = {"conv.weight": torch.zeros(4, 3, 3, 3), "hook": _RunsCode()}
    if kind == "zip":
        torch.save(payload, path)
    elif kind == "legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    culprit = f"{os.system.__module__}.{os.system.__name__}"  # posix.system here, nt.system on Windows
    message = _refused(_net(), path)
    assert message.startswith(f"refused: {path} asks to run {culprit}")


def test_entries_that_are_not_tensors_are_named(tmp_path):
    path = tmp_path / "mixed.pth"
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3), "epoch": 3}, path)
    assert "entry 'epoch' is a int, not a tensor" in _refused(_net(), path)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    assert "it holds a list, expected a state dict" in _refused(_net(), listed)


def test_another_architecture_names_the_first_missing_and_unexpected_key(tmp_path):
    network = _net()
    other = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3)), ("head", nn.Linear(4, 2))]))
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    expected_keys = list(network.state_dict())
    missing = [k for k in expected_keys if k not in other.state_dict()]
    unexpected = [k for k in other.state_dict() if k not in expected_keys]
    message = _refused(network, path, model_name="TinyNet")
    assert f"does not fit TinyNet ({len(other.state_dict())} tensors in the file, {len(expected_keys)} expected)" \
           in message
    assert f"missing key '{missing[0]}' (+{len(missing) - 1} more)" in message  # norm.weight, in network order
    assert f"unexpected key '{unexpected[0]}' (+{len(unexpected) - 1} more)" in message  # head.weight


def test_wrong_shape_names_the_first_tensor_found_and_expected(tmp_path):
    network = _net()
    state = _snapshot(network)
    state["norm.running_mean"] = torch.zeros(5)
    state["fc.weight"] = torch.zeros(3, 4)
    path = tmp_path / "shapes.pth"
    torch.save(state, path)
    message = _refused(network, path, model_name="TinyNet")
    assert message == f"{path}: tensor 'norm.running_mean' has shape (5), TinyNet expects (4)"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_name_the_first_tensor(tmp_path, bad):
    network = _net()
    state = _snapshot(network)  # copies: the network itself stays finite
    state["fc.bias"][1] = bad
    state["conv.bias"][0] = bad
    state["conv.bias"][2] = bad
    path = tmp_path / "nonfinite.pth"
    torch.save(state, path)
    n_nan, n_inf = (2, 0) if bad != bad else (0, 2)
    assert _refused(network, path).endswith(f"tensor 'conv.bias' holds {n_nan} NaN and {n_inf} infinite values "
                                            "of 4; weights must be finite")


def test_cornet_loader_uses_the_same_messages(tmp_path):
    network = cornet.cornet_s_network()
    empty = tmp_path / "cornet_s-1d3f7974.pth"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read weights file .*cornet_s-1d3f7974\.pth: the file is empty"):
        cornet.load_cornet_s_weights(network, empty)
    tiny = tmp_path / "tiny.pth"
    torch.save({"state_dict": {"module.conv.weight": torch.zeros(1)}}, tiny)
    with pytest.raises(ValueError) as error:
        cornet.load_cornet_s_weights(network, tiny)
    first = next(iter(network.state_dict()))  # V1.conv1.weight: the first key of the architecture
    assert f"{tiny} does not fit CORnet-S" in str(error.value)
    assert f"missing key '{first}'" in str(error.value) and "unexpected key 'conv.weight'" in str(error.value)


def test_a_realnet_trained_at_another_image_size_names_the_head_and_the_size(tmp_path, realnet_home):
    """A run registered at 64 px whose config.json was edited to say 32 px: its V1 head takes 64 x 16 x 16
    inputs (REFERENCE: V1 is 64 channels at 1/4 of the image side), the 32-px model's 64 x 8 x 8."""
    torch.manual_seed(0)
    trained = ReAlnet(ReAlnetConfig(image_size=64))
    folder = save_trained(trained, TrainedRun(1, 10.0, trained.config), root=realnet_home / "models")
    config = folder / "config.json"
    payload = json.loads(config.read_text())
    payload["config"]["image_size"] = 32
    config.write_text(json.dumps(payload))
    spec = get_spec(model_id(1, 10.0))
    with pytest.raises(WeightsFileError) as error:
        spec.build(True)
    message = str(error.value)
    assert "\n" not in message and "weights_only=False" not in message
    assert message.startswith(f"{folder / 'model.pt'}: tensor 'fc_v1.weight' has shape (128, {64 * 16 * 16}), "
                              f"ReAlnet (image_size 32, layers V1/V2/V4/IT, n_output 340) expects "
                              f"(128, {64 * 8 * 8})")
    assert message.endswith("(the file's V1 head takes 64 x 16 x 16 features: a ReAlnet trained at image_size 64, "
                            "this one is built for 32)")
    # the authors' layout (``realnet.module.*`` keys) with a NaN in the EEG head: named after renaming
    state = {key.replace("realnet.", "realnet.module.", 1): value for key, value in trained.state_dict().items()}
    state["fc.weight"][0, 0] = float("nan")
    (folder / "model.pt").unlink()
    nan_file = tmp_path / "ReAlnet01_best_model_params.pt"
    torch.save(state, nan_file)
    with pytest.raises(WeightsFileError, match=r"^.*ReAlnet01_best_model_params\.pt: tensor 'fc\.weight' holds 1 NaN "
                                               rf"and 0 infinite values of {340 * 4 * 128}; weights must be finite$"):
        load_realnet_weights(ReAlnet(ReAlnetConfig(image_size=64)), nan_file)


@pytest.fixture
def registered_folder(realnet_home):
    """A realnet_s01_b10 folder with a valid config.json (model.pt is a placeholder: configs are read first)."""
    folder = realnet_home / "models" / "realnet_s01_b10"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"placeholder")
    good = TrainedRun(1, 10.0, ReAlnetConfig(image_size=32), weights_sha256="0" * 64).to_json()
    return folder, good


@pytest.mark.parametrize("edit, expected", [
    (lambda text: text[: len(text) // 2], "truncated JSON: it ends at character"),
    (lambda text: text.replace('"beta": 10.0,', '"beta": 10.0 ,,'), "invalid JSON at line"),
    (lambda text: "", "the file is empty; expected a JSON object"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "subject"}), "missing key 'subject'"),
    (lambda text: json.dumps({**json.loads(text), "config": {k: v for k, v in json.loads(text)["config"].items()
                                                              if k != "image_size"}}),
     "missing key 'config.image_size'"),
    (lambda text: json.dumps({**json.loads(text), "preprocessing": {**json.loads(text)["preprocessing"],
                                                                     "mean": "imagenet"}}),
     "key 'preprocessing.mean' has 'imagenet', expected a list"),
    (lambda text: json.dumps({**json.loads(text), "config": {**json.loads(text)["config"], "imgsize": 32}}),
     "unknown key 'config.imgsize'"),
])
def test_config_json_errors_name_the_file_and_the_key(registered_folder, edit, expected):
    folder, good = registered_folder
    (folder / "config.json").write_text(edit(good))
    with pytest.raises(TrainedModelError) as error:
        get_spec("realnet_s01_b10")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'config.json'}: unreadable config of realnet_s01_b10 (")
    assert expected in message


def test_openai_clip_files_torchscript_and_state_dicts(tmp_path):
    """OpenAI publishes TorchScript archives, which torch.load(weights_only=True) refuses; openai_state_dict reads
    them (without their three scalar entries) and reads plain state dicts safely."""
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(2, 3)
            self.register_buffer("input_resolution", torch.tensor(224))

        def forward(self, x):
            return self.proj(x)

    tiny = Tiny()
    scripted = tmp_path / "clip-tiny.pt"
    torch.jit.save(torch.jit.script(tiny), str(scripted))
    with pytest.raises(WeightsFileError, match="a TorchScript archive .*, not a state dict") as error:
        read_state_dict(scripted)
    assert "weights_only=False" not in str(error.value)
    state = openai_state_dict(scripted)
    assert sorted(state) == ["proj.bias", "proj.weight"]
    assert torch.equal(state["proj.weight"], tiny.proj.weight)
    evil = tmp_path / "clip-evil.pt"
    torch.save({"proj.weight": torch.zeros(3, 2), "x": _RunsCode()}, evil)
    with pytest.raises(WeightsFileError, match=r"^refused: .*clip-evil\.pt asks to run "):
        openai_state_dict(evil)
