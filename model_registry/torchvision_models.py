"""torchvision models: the builder of ``resnet101`` and the open family ``torchvision:<name>`` (declared in
:mod:`model_registry.catalog`; this module is imported when one is resolved or built)."""
from __future__ import annotations

import torch

from .catalog import RESNET101_WEIGHTS, RESNET_BIBTEX, TORCHVISION_PREPROCESSING
from .layer_choice import called_layers, channel_last_layouts, meta_output_shapes, spread_regions, top_level_layers
from .registry import ModelSpec, UnknownModelError
from .storage.download import name_hash_prefix
from .weights import WeightsRecord, load_weights


def torchvision_record(name: str) -> WeightsRecord | None:
    """The :class:`WeightsRecord` of torchvision's default weights for ``name`` (URL, the sha256 prefix in its file
    name, transforms as our preprocessing, parameter count), ``None`` when torchvision publishes none."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None
    prefix = name_hash_prefix(weights.url)
    return WeightsRecord(url=weights.url, hash=f"sha256:{prefix}" if prefix else None,
                         file_name=weights.url.rsplit("/", 1)[-1], preprocessing=TORCHVISION_PREPROCESSING,
                         num_params=weights.meta.get("num_params"), licence="BSD-3-Clause (torchvision)",
                         paper=str(weights.meta.get("recipe", "")),
                         bibtex=RESNET_BIBTEX if name.startswith(("resnet", "wide_resnet")) else "",
                         notes=f"torchvision {type(weights).__name__}.{weights.name}")


def torchvision_network(name: str, pretrained: bool, record: WeightsRecord | None = None) -> torch.nn.Module:
    """Build torchvision's ``name``; with ``pretrained``, the weights of ``record`` (default: torchvision's default
    weights) fetched by our downloader and loaded by :func:`~model_registry.weights.load_weights`."""
    import torchvision

    network = torchvision.models.get_model(name, weights=None)
    if pretrained:
        record = record or torchvision_record(name)
        if record is None:
            raise ValueError(f"torchvision publishes no weights for {name!r}; use pretrained=False")
        load_weights(network, record, key=None, model_name=f"torchvision {name}")
    return network


def resnet101(pretrained: bool = True) -> torch.nn.Module:
    """torchvision ResNet-101 with the IMAGENET1K_V1 weights of its record when ``pretrained``."""
    return torchvision_network("resnet101", pretrained, RESNET101_WEIGHTS)


def resolve(identifier: str) -> ModelSpec:
    """The spec of ``torchvision:<name>``; raises :class:`UnknownModelError` for a name torchvision lacks."""
    import torchvision

    name = identifier.split(":", 1)[1]
    if name not in torchvision.models.list_models():
        raise UnknownModelError(f"torchvision has no model {name!r} (see torchvision.models.list_models())")
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            skeleton = torchvision.models.get_model(name, weights=None)
    except (NotImplementedError, RuntimeError):  # a builder that reads tensor values (RegNet's block widths)
        skeleton = torchvision.models.get_model(name, weights=None)
    shapes = meta_output_shapes(skeleton, TORCHVISION_PREPROCESSING.image_size)
    layers = called_layers(top_level_layers(skeleton), shapes)
    record = torchvision_record(name)
    return ModelSpec(identifier=identifier, builder=lambda pretrained: torchvision_network(name, pretrained, record),
                     family="torchvision", layers=layers, region_layer_map=spread_regions(skeleton, layers),
                     preprocessing=TORCHVISION_PREPROCESSING, weights=record,
                     num_params=sum(p.numel() for p in skeleton.parameters()), logits_layer=layers[-1],
                     bibtex=record.bibtex if record is not None else "", description=f"torchvision.models.{name}",
                     layer_layouts=channel_last_layouts(shapes))


def list_ids() -> list[str]:
    """``torchvision:<name>`` for every classification model torchvision lists."""
    import torchvision

    return [f"torchvision:{name}" for name in torchvision.models.list_models(module=torchvision.models)]
