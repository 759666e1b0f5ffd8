"""EfficientNet-Lite0: weights mapping, hash check, and real ImageNet predictions on scikit-image photos."""
from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image
from skimage import data

from model_registry import efficientnet
from model_registry.registry import get_spec, list_models

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def spec():
    return get_spec("efficientnet_lite0")


@pytest.fixture(scope="module")
def pretrained(spec):
    return spec.build(pretrained=True)


@pytest.fixture(scope="module")
def photos(spec) -> torch.Tensor:
    """chelsea (a cat) and coffee (an espresso), normalised: (2, 3, 224, 224)."""
    images = [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    return torch.stack([spec.preprocessing(image) for image in images])


def test_registered_with_metadata(spec, pretrained):
    assert "efficientnet_lite0" in list_models("efficientnet*")
    assert spec.num_params == sum(p.numel() for p in pretrained.parameters()) == 4_652_008
    assert spec.preprocessing.mean == spec.preprocessing.std == (0.5, 0.5, 0.5)
    assert spec.weights_sha256.startswith("57934424")
    modules = dict(pretrained.named_modules())
    assert all(layer in modules for layer in spec.layers), set(spec.layers) - set(modules)
    assert len([layer for layer in spec.layers if layer.startswith("blocks.")]) == 16
    assert set(spec.region_layer_map) == {"V1", "V2", "V4", "IT"}
    assert set(spec.region_layer_map.values()) <= set(spec.layers)
    assert spec.logits_layer == "classifier"
    assert not pretrained.training


def test_every_tensor_mapped_and_none_left_over():
    source = efficientnet.read_weights(efficientnet.default_weights_path())
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    converted = efficientnet.convert_state_dict(source, target)
    assert len(source) == len(target) == len(converted) == 296
    assert set(converted) == set(target)
    # values are carried over unchanged, e.g. the classifier and the last projection
    assert torch.equal(converted["classifier.weight"], source["_fc.weight"])
    assert torch.equal(converted["blocks.6.0.conv_pwl.weight"], source["_blocks.15._project_conv.weight"])
    assert torch.equal(converted["blocks.0.0.conv_pw.weight"], source["_blocks.0._project_conv.weight"])


def test_left_over_or_missing_tensors_are_named():
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    source = efficientnet.read_weights(efficientnet.default_weights_path())
    extra = dict(source, **{"_blocks.16._bn0.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"1 tensors left over \['_blocks.16._bn0.weight'\]"):
        efficientnet.convert_state_dict(extra, target)
    short = {k: v for k, v in source.items() if k != "_fc.bias"}
    with pytest.raises(ValueError, match=r"1 timm tensors unfilled \['classifier.bias'\]"):
        efficientnet.convert_state_dict(short, target)


def test_classifies_real_photos(pretrained, photos):
    with torch.no_grad():
        probabilities = pretrained(photos).softmax(dim=-1)  # (2, 1000)
    cat, coffee = probabilities
    assert int(cat.argmax()) in CAT_CLASSES
    assert float(cat[list(CAT_CLASSES)].sum()) > 0.5
    assert int(coffee.argmax()) == ESPRESSO
    assert float(coffee[ESPRESSO]) > 0.5


def test_random_init_differs(spec, pretrained, photos):
    torch.manual_seed(0)
    random = spec.build(pretrained=False)
    assert not torch.equal(random.classifier.weight, pretrained.classifier.weight)
    with torch.no_grad():
        random_logits, trained_logits = random(photos), pretrained(photos)
    assert not torch.allclose(random_logits, trained_logits, atol=1e-3)
    assert float(random_logits[1].softmax(-1)[ESPRESSO]) < 0.5


def test_wrong_file_is_refused_before_loading(tmp_path):
    wrong = tmp_path / "not-lite0.pth"
    torch.save({"_fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match=r"not-lite0\.pth .*expected 57934424"):
        efficientnet.efficientnet_lite0(pretrained=True, weights_path=wrong)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        efficientnet.efficientnet_lite0(pretrained=True, weights_path=tmp_path / "missing.pth")


def test_stem_pads_like_tensorflow_same(pretrained, photos):
    """TF 'SAME' with a 3x3 stride-2 kernel on 224 pixels pads 0 before and 1 after (PyTorch pads 1 and 1)."""
    weight = pretrained.conv_stem.weight
    with torch.no_grad():
        stem = pretrained.conv_stem(photos)  # (2, 32, 112, 112)
        tf_same = torch.nn.functional.conv2d(torch.nn.functional.pad(photos, (0, 1, 0, 1)), weight, stride=2)
        symmetric = torch.nn.functional.conv2d(photos, weight, stride=2, padding=1)
    assert stem.shape == (2, 32, 112, 112)
    torch.testing.assert_close(stem, tf_same)
    assert not torch.allclose(stem, symmetric, atol=1e-3)
