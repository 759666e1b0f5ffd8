"""Any ``torch.nn.Module`` as a Brain-Score ``BrainModel``, the habit of thingsvision's ``get_extractor(model=...)``.

>>> import torchvision
>>> from model_registry import wrap
>>> model = wrap(torchvision.models.resnet18(weights=None), layers=["layer3", "layer4"])
>>> model.identifier  # doctest: +SKIP
'module:ResNet-3f2a9c0d71e4'

The wrapped module is run through the same extractor, cache and benchmarks as a registered model. A timm,
torchvision or open_clip network the user built with their own weights is wrapped the same way (for open_clip,
wrap the image tower ``clip.visual``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .brain_model import RegisteredModel
from .layer_choice import spread_regions, top_level_layers
from .layout import LayerLayout
from .preprocessing import Preprocessing
from .registry import BRAIN_REGIONS, ModelSpec
from .storage.fingerprint import weights_hash

WRAPPED_FAMILY = "wrapped"


def as_preprocessing(preprocessing, owner: str = "preprocessing") -> Preprocessing:
    """``None`` -> ImageNet's (:class:`Preprocessing` defaults: the whole image resized to 224 x 224, ImageNet
    mean/std); a :class:`Preprocessing` as is; a dict of its fields -> ``Preprocessing(**dict)``.

    Raises ``TypeError`` for anything else: an arbitrary callable (a torchvision ``transforms.Compose``) has no
    stable description for the activation cache key, so its results could be served to another transform.
    """
    if preprocessing is None:
        return Preprocessing()
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    if isinstance(preprocessing, Mapping):
        try:
            return Preprocessing(**preprocessing)
        except TypeError as error:
            raise TypeError(f"{owner}: {error}; expected the fields of model_registry.Preprocessing (image_size, "
                            "resize, crop_fraction, mean, std, interpolation, resize_size, decoder)") from None
    raise TypeError(f"{owner} must be a model_registry.Preprocessing or a dict of its fields (image_size, resize, "
                    f"crop_fraction, mean, std, interpolation), got {type(preprocessing).__name__}")


def _check_modules(network: torch.nn.Module, names: Sequence[str], what: str) -> None:
    """Every name (``module`` or ``module-tK``) must be a module of ``network``: one error line naming the first
    unknown one and close matches, before any image is processed."""
    import difflib

    from .extractor import parse_layer

    named = {name for name, _ in network.named_modules() if name}
    for name in names:
        module = parse_layer(name)[0]
        if module not in named:
            close = difflib.get_close_matches(module, sorted(named), n=5, cutoff=0.4)
            raise ValueError(f"{what} {name!r} is not a module of {type(network).__name__}"
                             + (f"; close names: {', '.join(close)}" if close else "")
                             + " (see dict(network.named_modules()))")


def wrap(module: torch.nn.Module, identifier: str | None = None, *, layers: Sequence[str] | None = None,
         preprocessing: Preprocessing | Mapping | None = None, region_layer_map: Mapping[str, str] | None = None,
         visual_degrees: float = 8.0, logits_layer: str | None = None,
         layer_layouts: Mapping[str, str | LayerLayout] | None = None, **options) -> RegisteredModel:
    """``module`` (any ``torch.nn.Module`` taking ``(N, 3, H, W)`` float images) as a :class:`RegisteredModel`.

    - ``identifier``: default ``'module:<ClassName>-<first 12 hex of the weights' sha256>'``
      (:func:`~model_registry.storage.fingerprint.weights_hash` over every parameter and buffer), so two modules with
      different weights never share a name. The activation cache and the leaderboard key on the weights and on how
      the module computes (its structure, plain attributes and hooks) whatever the name.
    - ``layers``: module names (``dict(module.named_modules())``; ``name-tK`` for call K of a module run several
      times) the benchmarks read by default; default: the top-level children, block containers expanded
      (as for ``torchvision:<name>``).
    - ``preprocessing``: a :class:`~model_registry.Preprocessing` or a dict of its fields; default ImageNet's:
      the whole image resized (bilinear) to 224 x 224, ``ToTensor``, mean (0.485, 0.456, 0.406), std (0.229,
      0.224, 0.225). torchvision's own weights expect resize-256 / centre-crop-224:
      ``Preprocessing(resize='resize_crop', crop_fraction=224 / 256)``.
    - ``region_layer_map``: ``{'V1': layer, 'V2': ..., 'V4': ..., 'IT': ...}`` for Brain-Score's region
      benchmarks; default: weighted layers spread evenly over ``layers``.
    - ``options``: :class:`RegisteredModel` options (``device``, ``batch_size``, ``cache``, ``progress``).

    The module itself is used (not a copy); extraction puts its training flags and device back afterwards.
    Raises ``TypeError`` for a non-module or an unusable ``preprocessing``, ``ValueError`` naming the first layer
    (or region layer) that is not a module of ``module``, before any image is processed.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"wrap() needs a torch.nn.Module, got {type(module).__name__}")
    spec_preprocessing = as_preprocessing(preprocessing)
    layers = tuple([layers] if isinstance(layers, str) else (layers or top_level_layers(module)))
    if not layers:
        raise ValueError(f"{type(module).__name__} has no child modules to read; pass layers=[...] (module names)")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers are listed more than once: {list(layers)}")
    _check_modules(module, layers, "layer")
    if region_layer_map is None:
        try:
            region_layer_map = spread_regions(module, tuple(layer for layer in layers if "-t" not in layer))
        except (KeyError, IndexError, ZeroDivisionError):
            region_layer_map = {}
    else:
        unknown = sorted(set(region_layer_map) - set(BRAIN_REGIONS))
        if unknown:
            raise ValueError(f"region_layer_map names regions {unknown}; expected some of {list(BRAIN_REGIONS)}")
        _check_modules(module, list(region_layer_map.values()), "region layer")
    if logits_layer is not None:
        _check_modules(module, [logits_layer], "logits_layer")
    identifier = identifier or f"module:{type(module).__name__}-{weights_hash(module)[:12]}"
    spec = ModelSpec(identifier=identifier, builder=lambda pretrained: module, family=WRAPPED_FAMILY, layers=layers,
                     region_layer_map=dict(region_layer_map), preprocessing=spec_preprocessing,
                     num_params=sum(p.numel() for p in module.parameters()), visual_degrees=float(visual_degrees),
                     logits_layer=logits_layer, description=f"a wrapped {type(module).__module__}."
                     f"{type(module).__qualname__}", layer_layouts=dict(layer_layouts or {}))
    return RegisteredModel(spec, network=module, **options)
