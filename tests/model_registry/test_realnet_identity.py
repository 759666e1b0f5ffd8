"""Trained ReAlnet folders: the id, the config (subject, beta) and the weights must agree, or it is an error."""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from model_registry import list_models
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import (
    ReAlnet,
    ReAlnetConfig,
    TrainedModelError,
    TrainedRun,
    save_trained,
    seal_trained,
)
from model_registry.registry import get_spec
from model_registry.storage.paths import models_dir

CONFIG = ReAlnetConfig(image_size=32)  # the whole CORnet-S backbone, small EEG heads


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """One trained-model folder ``realnet_s01_b100`` written by save_trained, and the backbone state saved."""
    torch.manual_seed(1)
    model = ReAlnet(CONFIG)
    root = tmp_path_factory.mktemp("models")
    folder = save_trained(model, TrainedRun(subject=1, beta=100.0, config=CONFIG, preprocessing=Preprocessing(32)),
                          root=root)
    return folder, {name: tensor.clone() for name, tensor in model.realnet.state_dict().items()}


def _install(saved, name: str = "realnet_s01_b100") -> Path:
    folder, _ = saved
    return Path(shutil.copytree(folder, models_dir() / name))


def test_save_records_the_weights_sha256_and_a_correct_folder_loads(saved):
    folder = _install(saved)
    config = json.loads((folder / "config.json").read_text())
    assert config["weights_sha256"] == hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    assert (config["model_id"], config["subject"], config["beta"]) == ("realnet_s01_b100", 1, 100.0)
    spec = get_spec("realnet_s01_b100")
    assert spec.subject == 1 and spec.trained.folder == folder and spec.weights_url is None
    assert spec.trained.weights_sha256 == config["weights_sha256"] and spec.beta == 100.0
    built = spec.build(True).state_dict()
    _, expected = saved
    assert built.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(built[name], tensor), name


def test_a_renamed_folder_is_refused_not_scored_as_another_subject(saved):
    _install(saved, "realnet_s02_b100")  # subject 2 also has published weights: no fall-back to them either
    with pytest.raises(TrainedModelError) as error:
        get_spec("realnet_s02_b100")
    message = str(error.value)
    assert "realnet_s02_b100" in message and "subject 1, beta 100" in message and "realnet_s01_b100" in message
    assert "\n" not in message
    _install(saved, "realnet_s01_b10")  # another beta: the same
    with pytest.raises(TrainedModelError, match="subject 1, beta 100, whose id is realnet_s01_b100"):
        get_spec("realnet_s01_b10")


def test_weights_without_config_are_refused_never_replaced_by_published_weights(saved, tmp_path):
    folder = _install(saved)
    (folder / "config.json").unlink()
    with pytest.raises(TrainedModelError, match=r"holds model\.pt but needs both model\.pt and config\.json"):
        get_spec("realnet_s01_b100")
    assert "realnet_s01_b100" in list_models("realnet_*")  # listed, so that it fails loudly rather than vanishes
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(TrainedModelError, match=r"config\.json: unreadable config of realnet_s01_b100"):
        get_spec("realnet_s01_b100")
    good = TrainedRun(1, 100.0, CONFIG, Preprocessing(32), weights_sha256="0" * 64).to_json()
    (folder / "config.json").write_text(good.replace('"subject": 1', '"subject": 3'))  # its model_id says 1
    with pytest.raises(TrainedModelError, match="model_id 'realnet_s01_b100' disagrees with its subject 3"):
        get_spec("realnet_s01_b100")
    (folder / "model.pt").unlink()
    (folder / "config.json").unlink()
    with pytest.raises(TrainedModelError, match="neither file"):
        get_spec("realnet_s01_b100")


def test_swapped_weights_are_refused_before_loading(saved):
    folder = _install(saved)
    state = torch.load(folder / "model.pt", weights_only=True)
    state["fc.bias"] = state["fc.bias"] + 1.0  # e.g. another run's weights copied over this one's
    torch.save(state, folder / "model.pt")
    spec = get_spec("realnet_s01_b100")  # the config still agrees with the id
    with pytest.raises(TrainedModelError, match=r"model\.pt: sha256 .* differs from .* recorded in its config\.json "
                                                r"for realnet_s01_b100 \(subject 1, beta 100\)"):
        spec.build(True)


def test_a_folder_without_recorded_sha256_is_refused_until_sealed(saved):
    folder = _install(saved)
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(TrainedModelError, match=r"records no weights_sha256 .*realnet\.seal_trained\("):
        get_spec("realnet_s01_b100")
    sealed = seal_trained(folder)
    assert sealed.weights_sha256 == hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    _, expected = saved
    built = get_spec("realnet_s01_b100").build(True).state_dict()
    assert all(torch.equal(built[name], tensor) for name, tensor in expected.items())


def test_sealing_refuses_a_renamed_folder(saved):
    folder = _install(saved, "realnet_s02_b100")
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(TrainedModelError, match="rename the folder to realnet_s01_b100"):
        seal_trained(folder)
    assert "weights_sha256" not in json.loads((folder / "config.json").read_text())


def test_save_refuses_a_run_whose_config_is_not_the_models():
    model = ReAlnet(ReAlnetConfig(image_size=32))
    with pytest.raises(ValueError, match="differs from the model's config"):
        save_trained(model, TrainedRun(1, 100.0, ReAlnetConfig(image_size=64)))
    assert not models_dir().exists() or not any(models_dir().iterdir())


def test_equal_weights_saved_again_keep_their_sha256_and_still_load(saved, tmp_path):
    """A load / save_trained round trip into another root writes the same bytes (torch.save to a path would name its
    archive after the temporary file), so the re-saved folder is accepted; the refusal of torch.save's own bytes
    names that cause."""
    folder, _ = saved
    loaded = ReAlnet(CONFIG)
    loaded.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    run = TrainedRun(subject=1, beta=100.0, config=CONFIG, preprocessing=Preprocessing(32))
    again = save_trained(loaded, run, root=tmp_path / "again")
    assert (again / "model.pt").read_bytes() == (folder / "model.pt").read_bytes()
    recorded = json.loads((again / "config.json").read_text())["weights_sha256"]
    assert recorded == hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    installed = _install(saved)
    torch.save(torch.load(installed / "model.pt", weights_only=True), installed / "model.pt")  # equal, other bytes
    with pytest.raises(TrainedModelError, match=r"torch names the archive after the file; .*save_trained writes "
                                                r"equal weights as equal bytes"):
        get_spec("realnet_s01_b100").build(True)


def test_a_byte_changed_in_place_after_a_checked_build_is_still_refused(saved):
    # the sha256 of a checked file is remembered for this process; an in-place change of one byte that keeps the
    # size and the modification time must still be caught (the status-change time is part of the key)
    import os

    folder = _install(saved)
    spec = get_spec("realnet_s01_b100")
    spec.build(True)
    weights = folder / "model.pt"
    before = weights.stat()
    content = bytearray(weights.read_bytes())
    content[-100] ^= 0xFF
    with open(weights, "r+b") as handle:
        handle.write(bytes(content))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert weights.stat().st_size == before.st_size and weights.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(TrainedModelError, match="differs from"):
        get_spec("realnet_s01_b100").build(True)


def test_a_realnet_built_for_loading_equals_one_built_and_then_loaded(saved, tmp_path):
    from model_registry.realnet import load_realnet_weights, loaded_realnet

    folder, _ = saved
    reference = load_realnet_weights(ReAlnet(CONFIG), folder / "model.pt")
    ours = loaded_realnet(CONFIG, folder / "model.pt")
    tensors = dict((*ours.named_parameters(), *ours.named_buffers()))
    assert not any(tensor.is_meta for tensor in tensors.values())
    assert all(parameter.requires_grad for parameter in ours.parameters())
    expected = reference.state_dict()
    assert ours.state_dict().keys() == expected.keys()
    for name, tensor in ours.state_dict().items():
        assert tensor.dtype == expected[name].dtype and torch.equal(tensor, expected[name]), name
    images = torch.randn(2, 3, 32, 32)
    for left, right in zip(ours.eval()(images), reference.eval()(images)):
        assert torch.equal(left, right)
    # a file saved in float64 still gives float32 tensors, as a copy into a normally built model would
    doubled = tmp_path / "double.pt"
    torch.save({name: value.double() if value.is_floating_point() else value for name, value in expected.items()},
               doubled)
    assert all(tensor.dtype == expected[name].dtype
               for name, tensor in loaded_realnet(CONFIG, doubled).state_dict().items())


def test_a_float16_copy_loads_cast_up_with_a_warning(saved, tmp_path):
    from model_registry.realnet import loaded_realnet

    folder, _ = saved
    state = torch.load(folder / "model.pt", weights_only=True)
    half = {name: value.half() if value.is_floating_point() else value for name, value in state.items()}
    torch.save(half, tmp_path / "half.pt")
    with pytest.warns(RuntimeWarning, match=r"half\.pt: \d+ tensor\(s\) .*torch\.float16\) are stored in lower "
                                            r"precision than the network computes in \(torch\.float32\)"):
        model = loaded_realnet(CONFIG, tmp_path / "half.pt")
    loaded = model.state_dict()
    for name, value in half.items():  # the rounded weights, cast up: what the model now computes with
        assert torch.equal(loaded[name], value.to(loaded[name].dtype)), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the float32 file itself: no warning
        loaded_realnet(CONFIG, folder / "model.pt")
