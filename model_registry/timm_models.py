"""timm models: the open family ``timm:<name>`` (any ``timm.list_models()`` name, optionally ``name.tag``), declared
in :mod:`model_registry.catalog`; this module is imported when one is resolved or built."""
from __future__ import annotations

import sys

import torch

from .layer_choice import called_layers, channel_last_layouts, meta_output_shapes, spread_regions, top_level_layers
from .preprocessing import Preprocessing
from .registry import ModelSpec, UnknownModelError
from .storage.download import name_hash_prefix
from .weights import WeightsFileError, WeightsRecord, load_weights, read_state_dict


def timm_preprocessing(name: str) -> Preprocessing:
    """The input size, crop and normalisation of timm's pretrained config for ``name``, as timm's own eval transform
    (``timm.data.create_transform(**resolve_data_config(...))``) applies them: ``crop_mode='center'`` resizes the
    short side to ``floor(size / crop_pct)`` and centre-crops (also at ``crop_pct=1``: a crop, never a squash);
    ``'squash'`` squashes to that square and centre-crops. Raises ``ValueError`` for configs it cannot reproduce
    (``crop_mode='border'`` pads to a square; a non-square input size)."""
    import math

    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return Preprocessing(resize="resize_crop")
    crop = cfg.crop_pct or 0.875  # timm's DEFAULT_CROP_PCT
    height, width = cfg.input_size[-2:]
    mode = cfg.crop_mode or "center"
    if height != width or mode not in ("center", "squash"):
        raise ValueError(f"timm:{name}: its pretrained config preprocesses with input size {height} x {width} and "
                         f"crop_mode={mode!r}, which realnet-plugin's Preprocessing does not reproduce (square "
                         "inputs, crop_mode 'center' or 'squash' only)")
    common = dict(image_size=width, crop_fraction=min(crop, 1.0), mean=tuple(cfg.mean), std=tuple(cfg.std),
                  interpolation=cfg.interpolation if cfg.interpolation == "bicubic" else "bilinear",
                  resize_size=math.floor(width / crop))
    if mode == "squash" and common["resize_size"] == width:
        return Preprocessing(resize="resize", **{**common, "resize_size": None})  # squash to the size itself
    return Preprocessing(resize="resize_crop" if mode == "center" else "squash_crop", **common)


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


def timm_record(name: str) -> WeightsRecord | None:
    """The :class:`WeightsRecord` of timm's pretrained weights for ``name`` (``None`` when timm has none): URL, the
    sha256 prefix where the file name carries one (timm publishes no other hash), preprocessing, licence, paper."""
    import timm

    url = weights_url(name)
    if url is None:
        return None
    cfg = timm.models.get_pretrained_cfg(name)
    prefix = name_hash_prefix(url)
    papers = [str(p) for p in (getattr(cfg, "paper_ids", None) or ())] if cfg is not None else []
    return WeightsRecord(url=url, hash=f"sha256:{prefix}" if prefix else None,
                         file_name=f"timm-{name}-{url.rsplit('/', 1)[-1]}", preprocessing=timm_preprocessing(name),
                         licence=str(getattr(cfg, "license", "") or ""), paper=", ".join(papers),
                         notes=f"timm pretrained_cfg of {name}")


def _timm_state(name: str, network: torch.nn.Module, path) -> dict[str, torch.Tensor]:
    """The tensors of timm's file ``path`` for ``network``, as timm's own loader would give them: the model
    module's ``checkpoint_filter_fn`` applied (original-format checkpoints renamed) and a ``label_offset``
    classifier (1001-class TF checkpoints) cut to the model's classes. Anything else that does not fit is left to
    the strict :func:`~model_registry.weights.load_weights` to name."""
    import timm

    state = read_state_dict(path)
    entrypoint = timm.models.model_entrypoint(name.split(".")[0])
    filter_fn = getattr(sys.modules.get(entrypoint.__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            state = filter_fn(state, network)
        except TypeError:
            state = filter_fn(state)
    cfg = timm.models.get_pretrained_cfg(name)
    offset = getattr(cfg, "label_offset", 0) or 0
    classifiers = getattr(cfg, "classifier", None) or ()
    for classifier in [classifiers] if isinstance(classifiers, str) else classifiers:
        for suffix in (".weight", ".bias"):
            key = classifier + suffix
            if offset and key in state:
                state[key] = state[key][offset:]
    return state


def timm_network(name: str, pretrained: bool, record: WeightsRecord | None = None) -> torch.nn.Module:
    """Build timm's ``name``; with ``pretrained``, the file of its :class:`WeightsRecord` fetched by our
    downloader and loaded strictly by :func:`~model_registry.weights.load_weights`. Raises ``ValueError`` when
    timm publishes no weights for ``name``."""
    import timm

    network = timm.create_model(name, pretrained=False)
    if not pretrained:
        return network
    record = record or timm_record(name)
    if record is None:
        raise ValueError(f"timm publishes no pretrained weights for {name!r}; use pretrained=False")
    path = record.fetch()
    try:
        state = _timm_state(name, network, path)
    except WeightsFileError:
        raise
    except (KeyError, ValueError, RuntimeError) as error:
        raise WeightsFileError(f"{path}: timm's checkpoint filter for {name} failed ({error})") from None
    return load_weights(network, state, source=f"{path} (from {record.url})", model_name=f"timm {name}")


def resolve(identifier: str) -> ModelSpec:
    """The spec of ``timm:<name>``; raises :class:`UnknownModelError` naming close timm names."""
    import timm

    name = identifier.split(":", 1)[1]
    if not timm.is_model(name.split(".")[0]):
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:5]
        raise UnknownModelError(f"timm has no model {name!r}" + (f"; close: {', '.join(close)}" if close else ""))
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            skeleton = timm.create_model(name, pretrained=False)
    except (NotImplementedError, RuntimeError):  # a builder that reads tensor values
        skeleton = timm.create_model(name, pretrained=False)
    preprocessing = timm_preprocessing(name)
    shapes = meta_output_shapes(skeleton, preprocessing.image_size)
    layers = called_layers(top_level_layers(skeleton), shapes)
    record = timm_record(name)
    return ModelSpec(identifier=identifier, builder=lambda pretrained: timm_network(name, pretrained, record),
                     family="timm", layers=layers, region_layer_map=spread_regions(skeleton, layers),
                     preprocessing=preprocessing, weights=record,
                     num_params=sum(p.numel() for p in skeleton.parameters()), logits_layer=layers[-1],
                     description=f"timm.create_model({name!r})",
                     layer_layouts=channel_last_layouts(shapes))


def list_ids() -> list[str]:
    """``timm:<name>`` for every architecture ``timm.list_models()`` names."""
    import timm

    return [f"timm:{name}" for name in timm.list_models()]
