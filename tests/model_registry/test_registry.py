import pytest

import model_registry as registry
from model_registry import UnknownModelError, get_spec, list_models, load_model


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
