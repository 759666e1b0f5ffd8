"""torchvision models: the registered ``resnet101`` and the open family ``torchvision:<name>``."""
from __future__ import annotations

import torch

from .layer_choice import spread_regions, top_level_layers
from .preprocessing import Preprocessing
from .registry import ModelSpec, UnknownModelError, register_family, register_model
from .storage.download import fetch, name_hash_prefix
from .weights import load_weights

RESNET101_LAYERS = ("layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
RESNET101_REGIONS = {"V1": "layer1", "V2": "layer2", "V4": "layer3", "IT": "layer4"}
TORCHVISION_PREPROCESSING = Preprocessing(image_size=224, resize="resize_crop", crop_fraction=224 / 256)


def torchvision_network(name: str, pretrained: bool) -> torch.nn.Module:
    """Build torchvision's ``name``; with ``pretrained``, its default weights through our downloader."""
    import torchvision

    network = torchvision.models.get_model(name, weights=None)
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        path = fetch(weights.url, None, hash_prefix=name_hash_prefix(weights.url))
        load_weights(network, path, key=None)
    return network


@register_model(
    "resnet101", family="torchvision", layers=RESNET101_LAYERS, region_layer_map=RESNET101_REGIONS,
    preprocessing=TORCHVISION_PREPROCESSING, weights_url="https://download.pytorch.org/models/resnet101-63fe2227.pth",
    num_params=44_549_160, logits_layer="fc",
    description="ResNet-101 (He et al. 2016), torchvision IMAGENET1K_V1 weights",
)
def resnet101(pretrained: bool = True) -> torch.nn.Module:
    """torchvision ResNet-101 with IMAGENET1K_V1 weights when ``pretrained``."""
    import torchvision

    network = torchvision.models.resnet101(weights=None)
    if pretrained:
        path = fetch("https://download.pytorch.org/models/resnet101-63fe2227.pth", None, hash_prefix="63fe2227")
        load_weights(network, path, key=None)
    return network


def _resolve(identifier: str) -> ModelSpec:
    import torchvision

    name = identifier.split(":", 1)[1]
    if name not in torchvision.models.list_models():
        raise UnknownModelError(f"torchvision has no model {name!r} (see torchvision.models.list_models())")
    with torch.device("meta"):
        skeleton = torchvision.models.get_model(name, weights=None)
    layers = top_level_layers(skeleton)
    try:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
    except (ValueError, AttributeError):
        url = None
    return ModelSpec(identifier=identifier, builder=lambda pretrained: torchvision_network(name, pretrained),
                     family="torchvision", layers=layers, region_layer_map=spread_regions(skeleton, layers),
                     preprocessing=TORCHVISION_PREPROCESSING, weights_url=url,
                     num_params=sum(p.numel() for p in skeleton.parameters()), logits_layer=layers[-1],
                     description=f"torchvision.models.{name}")


def _list() -> list[str]:
    import torchvision

    return [f"torchvision:{name}" for name in torchvision.models.list_models(module=torchvision.models)]


register_family("torchvision", r"torchvision:[\w.]+", _resolve, _list, example="torchvision:<name>",
                prefix="torchvision:")
