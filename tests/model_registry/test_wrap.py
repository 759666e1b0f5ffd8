"""model_registry.wrap: defaults (layers, ImageNet preprocessing, identifier by weights) and one-line refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from model_registry import Preprocessing, wrap


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None)


def test_defaults_layers_regions_and_imagenet_preprocessing(image_files):
    model = wrap(_net())
    assert model.layers == ("conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    assert set(model.region_layer_map) == {"V1", "V2", "V4", "IT"}
    assert model.spec.family == "wrapped" and model.network is not None
    image = Image.open(image_files[3]).convert("RGB")
    reference = torchvision.transforms.Compose([  # ImageNet's: whole image to 224 x 224, ImageNet mean / std
        torchvision.transforms.Resize((224, 224)), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])(image)
    np.testing.assert_allclose(model.spec.preprocessing(image).numpy(), reference.numpy(), atol=1e-6)
    as_dict = wrap(_net(), preprocessing={"image_size": 96, "resize": "resize_crop"})
    assert as_dict.spec.preprocessing == Preprocessing(image_size=96, resize="resize_crop")


def test_identifier_is_the_weights_content():
    a, b, c = wrap(_net(0)), wrap(_net(0)), wrap(_net(1))
    assert a.identifier == b.identifier != c.identifier
    assert a.identifier.startswith("module:ResNet-") and len(a.identifier) == len("module:ResNet-") + 12
    assert wrap(_net(0), "mine").identifier == "mine"


def test_refusals_name_the_value():
    with pytest.raises(TypeError, match="wrap\\(\\) needs a torch.nn.Module, got dict"):
        wrap({})
    with pytest.raises(ValueError, match="layer 'layer5' is not a module of ResNet; close names: layer"):
        wrap(_net(), layers=["layer1", "layer5"])
    with pytest.raises(ValueError, match="layers are listed more than once"):
        wrap(_net(), layers=["layer1", "layer1"])
    with pytest.raises(ValueError, match=r"region_layer_map names regions \['V3'\]"):
        wrap(_net(), region_layer_map={"V3": "layer1"})
    with pytest.raises(ValueError, match="region layer 'layer9' is not a module"):
        wrap(_net(), region_layer_map={"IT": "layer9"})
    with pytest.raises(TypeError, match="preprocessing: .*unexpected keyword argument 'size'"):
        wrap(_net(), preprocessing={"size": 224})
