"""timm models: the open family ``timm:<name>`` (any ``timm.list_models()`` name, optionally ``name.tag``)."""
from __future__ import annotations

import torch

from .layer_choice import spread_regions, top_level_layers
from .preprocessing import Preprocessing
from .registry import ModelSpec, UnknownModelError, register_family
from .storage.download import fetch, name_hash_prefix


def timm_preprocessing(name: str) -> Preprocessing:
    """The input size, crop and normalisation of timm's pretrained config for ``name``."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return Preprocessing(resize="resize_crop")
    crop = cfg.crop_pct or 1.0
    return Preprocessing(image_size=cfg.input_size[-1], resize="resize_crop" if crop < 1 else "resize",
                         crop_fraction=crop, mean=tuple(cfg.mean), std=tuple(cfg.std),
                         interpolation=cfg.interpolation if cfg.interpolation == "bicubic" else "bilinear")


def weights_url(name: str) -> str | None:
    """Download URL of timm's pretrained weights for ``name`` (release URL, else the Hugging Face file)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.url:
        return cfg.url
    if cfg.hf_hub_id:
        return f"https://huggingface.co/{cfg.hf_hub_id}/resolve/main/{cfg.hf_hub_filename or 'model.safetensors'}"
    return None


def timm_network(name: str, pretrained: bool) -> torch.nn.Module:
    """Build timm's ``name``; with ``pretrained``, its weights through our downloader, loaded by timm."""
    import timm

    if not pretrained:
        return timm.create_model(name, pretrained=False)
    url = weights_url(name)
    if url is None:
        raise ValueError(f"timm publishes no pretrained weights for {name!r}; use pretrained=False")
    path = fetch(url, None, filename=f"timm-{name}-{url.rsplit('/', 1)[-1]}", hash_prefix=name_hash_prefix(url))
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)})


def _resolve(identifier: str) -> ModelSpec:
    import timm

    name = identifier.split(":", 1)[1]
    if not timm.is_model(name.split(".")[0]):
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:5]
        raise UnknownModelError(f"timm has no model {name!r}" + (f"; close: {', '.join(close)}" if close else ""))
    with torch.device("meta"):
        skeleton = timm.create_model(name, pretrained=False)
    layers = top_level_layers(skeleton)
    return ModelSpec(identifier=identifier, builder=lambda pretrained: timm_network(name, pretrained),
                     family="timm", layers=layers, region_layer_map=spread_regions(skeleton, layers),
                     preprocessing=timm_preprocessing(name), weights_url=weights_url(name),
                     num_params=sum(p.numel() for p in skeleton.parameters()), logits_layer=layers[-1],
                     description=f"timm.create_model({name!r})")


def _list() -> list[str]:
    import timm

    return [f"timm:{name}" for name in timm.list_models()]


register_family("timm", r"timm:[\w.\-]+", _resolve, _list, example="timm:<name>", prefix="timm:")
