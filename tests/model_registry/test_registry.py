import numpy as np
import pytest
import torch
from brainscore_core.benchmarks import Benchmark

import model_registry as registry
from benchmarks.registry import register_benchmark
from model_registry import UnknownModelError, get_spec, list_models, load_model, register_model


def test_listing_uses_wildcards_and_builds_nothing(monkeypatch):
    built = []
    monkeypatch.setattr(registry.cornet, "cornet_s_network", lambda *a: built.append(1))
    assert list_models("clip*") == ["clip_rn101", "clip_vit_b32"]
    assert {"cornet_s", "resnet101", "clip_rn101", "clip_vit_b32", "efficientnet_lite0",
            "realnet_s01_b100", "realnet_s10_b100"} <= set(list_models())
    assert list_models("cornet_s,resnet*") == ["cornet_s", "resnet101"]
    assert "timm:resnet18" in list_models("timm:resnet1*")
    assert "torchvision:alexnet" in list_models("torchvision:*")
    assert built == []


def test_specs_carry_metadata():
    spec = get_spec("cornet_s")
    assert spec.family == "cornet" and spec.num_params == 53_416_616
    assert spec.region_layer_map == {"V1": "V1", "V2": "V2", "V4": "V4", "IT": "IT"}
    assert spec.weights_url.endswith("cornet_s-1d3f7974.pth")
    assert spec.preprocessing.image_size == 224
    tv = get_spec("torchvision:resnet18")
    assert tv.region_layer_map["IT"] == "layer4" and tv.logits_layer == "fc"
    assert get_spec("timm:resnet18").preprocessing.interpolation == "bicubic"


def test_unknown_ids_name_close_matches():
    with pytest.raises(UnknownModelError, match="Did you mean: cornet_s"):
        load_model("cornet_z")
    with pytest.raises(UnknownModelError, match="no model 'resnet_nonexistent'"):
        get_spec("torchvision:resnet_nonexistent")
    with pytest.raises(UnknownModelError, match="realnet train --subject 3 --beta 10"):
        get_spec("realnet_s03_b10")


def test_generic_families_build_and_extract(image_files):
    model = load_model("torchvision:resnet18", pretrained=False, cache=False, progress=False)
    assembly = model.activations(image_files[:2], ["layer4"])
    assert assembly.shape == (2, 512 * 7 * 7)
    timm_model = load_model("timm:resnet10t", pretrained=False, cache=False, progress=False)
    assert timm_model.activations(image_files[:2], ["fc"]).shape == (2, 1000)


@pytest.mark.parametrize("identifier", ["clip_rn101", "clip_vit_b32"])
def test_clip_towers_build_with_their_default_layers(identifier, image_files):
    model = load_model(identifier, pretrained=False, cache=False, progress=False)
    assembly = model.activations(image_files[:1], [model.layers[-1], model.region_layer_map["IT"]])
    assert assembly.shape[0] == 1 and assembly.shape[1] > 0


def _tiny(pretrained: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4), torch.nn.ReLU(), torch.nn.Flatten())


register_model("test_tiny_net", family="test", layers=("0", "2"), region_layer_map={"IT": "2"},
               preprocessing=registry.Preprocessing(image_size=32))(_tiny)


class _MeanResponseBenchmark(Benchmark):
    """A minimal Brain-Score benchmark: records IT on two images, scores their mean response."""

    identifier = "test-mean-it"

    def __init__(self, stimuli):
        self.stimuli = stimuli

    def __call__(self, candidate):
        from brainscore_core.metrics import Score

        candidate.start_recording("IT", [(70, 170)])
        responses = candidate.look_at(self.stimuli)
        return Score(float(np.asarray(responses).mean()))


def test_brainscore_vision_score_reaches_our_ids(image_files):
    import brainscore_vision

    register_benchmark("test-mean-it", lambda: _MeanResponseBenchmark(image_files[:2]))
    score = brainscore_vision.score("test_tiny_net", "test-mean-it")
    direct = _MeanResponseBenchmark(image_files[:2])(load_model("test_tiny_net"))
    assert float(score) == pytest.approx(float(direct)) and float(score) > 0
    assert score.attrs["model_identifier"] == "test_tiny_net"
    assert {"cornet_s", "efficientnet_lite0", "resnet101", "test_tiny_net"} <= set(brainscore_vision.model_registry)
    assert isinstance(brainscore_vision.load_model("cornet_s"), registry.RegisteredModel)
    assert brainscore_vision.load_model("torchvision:alexnet").identifier == "torchvision:alexnet"
    with pytest.raises(AssertionError, match="No registrations found"):
        brainscore_vision.load_model("no_such_model_anywhere")
