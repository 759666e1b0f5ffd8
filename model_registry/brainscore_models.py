"""Brain-Score's model zoo as the open family ``brainscore:<id>``, and any ``ModelCommitment`` as our BrainModel.

``brainscore:<id>`` loads the model through ``brainscore_vision.load_model(<id>)``: Brain-Score's own plugin
lookup, its weight downloads and its ``BS_INSTALL_DEPENDENCIES`` behaviour, left exactly as the user set it
(Brain-Score's default ``yes`` pip-installs a plugin's requirements when it is loaded; ``no`` does not).
``list_models('brainscore:*')`` lists the ids the installed ``brainscore_vision`` registers, found by reading its
``models/*/__init__.py`` files as text (no plugin is imported).

The Brain-Score model then runs through our extractor and cache (:func:`commitment_model`): the PyTorch module of
its ``activations_model`` is hooked directly, so the activation cache is keyed by the content of its weights, its
preprocessing, layers and stimulus bytes, never by the model id alone (Brain-Score's own cache is keyed by id and
serves stale activations after a weight change). Layers: the layers the commitment maps to V1, V2, V4 and IT
(when it carries an explicit ``region_layer_map``), else its candidate ``layers``; benchmarks' ``layers=``
override. Nothing lazy is triggered: a ``RegionLayerMap`` that would run Brain-Score's layer selection
(benchmark data downloads) contributes only the regions already committed.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .brain_model import RegisteredModel
from .brainscore_ids import PREFIX, brainscore_plugin_ids
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .registry import BRAIN_REGIONS, ModelSpec, UnknownModelError

FAMILY = "brainscore"
_LOADED: dict[str, object] = {}
_LOCK = threading.Lock()


def load_commitment(identifier: str):
    """The Brain-Score model ``identifier`` (without the prefix), loaded once per process through
    ``brainscore_vision.load_model``. Raises :class:`UnknownModelError` when no plugin registers it."""
    import brainscore_vision

    with _LOCK:
        if identifier not in _LOADED:
            if identifier not in brainscore_plugin_ids("models"):
                raise UnknownModelError(f"brainscore_vision {brainscore_vision.__file__} has no model plugin "
                                        f"registering {identifier!r} (see list_models('brainscore:*'))")
            _LOADED[identifier] = brainscore_vision.load_model(identifier)
        return _LOADED[identifier]


def _is_load_preprocess_images(function) -> bool:
    return (getattr(function, "__name__", None) == "load_preprocess_images"
            and getattr(function, "__module__", "").startswith("brainscore_vision.model_helpers.activations"))


def translate_preprocessing(function) -> Preprocessing | None:
    """Brain-Score's standard preprocessing as our :class:`Preprocessing`, or ``None`` when it is not one.

    Recognised: ``functools.partial(load_preprocess_images, image_size=S[, normalize_mean=, normalize_std=,
    preprocess_type='imagenet'|'inception'])``. ``imagenet``: ``Resize((S, S))`` of the whole image (bilinear),
    ToTensor, Normalize(mean, std) (ImageNet's by default) = ``Preprocessing(S, resize='resize')``.
    ``inception``: ``Resize(int(S * 256 / 224))`` of the short side, ``CenterCrop(S)``, mean = std = 0.5.
    """
    if not isinstance(function, functools.partial) or not _is_load_preprocess_images(function.func):
        return None
    if function.args:
        return None
    keywords = dict(function.keywords)
    known = {"image_size", "normalize_mean", "normalize_std", "preprocess_type"}
    if "image_size" not in keywords or set(keywords) - known:
        return None
    size = int(keywords["image_size"])
    kind = str(keywords.get("preprocess_type", "imagenet")).lower()
    if kind == "imagenet":
        return Preprocessing(image_size=size, resize="resize",
                             mean=tuple(float(v) for v in keywords.get("normalize_mean", IMAGENET_MEAN)),
                             std=tuple(float(v) for v in keywords.get("normalize_std", IMAGENET_STD)),
                             decoder="brainscore")
    if kind == "inception":  # Resize(int(S * 256 / 224)) of the short side, exactly
        return Preprocessing(image_size=size, resize="resize_crop", crop_fraction=size / int(size * 256 / 224),
                             resize_size=int(size * 256 / 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                             decoder="brainscore")
    return None


class PluginPreprocessing:
    """A Brain-Score plugin's own preprocessing function ``fn(paths) -> (n, 3, H, W) array``, called per image.

    Each decoded RGB image (:func:`~model_registry.image_decoding.decode_image`) is written to a temporary
    lossless PNG and handed to ``fn``. ``descriptor()`` (part of the activation cache key) names the function and
    hashes its source code and bound arguments, so a changed preprocessing is not served old activations.
    """

    def __init__(self, function, model_identifier: str):
        self.function = function
        self.model_identifier = model_identifier
        self._descriptor = _function_descriptor(function)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """``(3, H, W)`` float tensor of ``image`` as the plugin preprocesses it."""
        with tempfile.TemporaryDirectory(prefix="realnet-bs-") as folder:
            path = Path(folder) / "image.png"
            image.convert("RGB").save(path, format="PNG")
            values = self.function([str(path)])
        array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float32)
        if array.ndim == 4 and len(array) == 1:
            array = array[0]
        if array.ndim != 3:
            raise ValueError(f"Brain-Score model {self.model_identifier}: its preprocessing returned shape "
                             f"{array.shape} for one image; expected (1, 3, H, W)")
        return torch.from_numpy(np.ascontiguousarray(array))

    def descriptor(self) -> str:
        """Stable text naming the function, its source hash and bound arguments (cache-key part)."""
        return self._descriptor


def _function_descriptor(function) -> str:
    target, bound = function, ""
    if isinstance(function, functools.partial):
        target, bound = function.func, repr((function.args, sorted(function.keywords.items())))
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        source = repr(code.co_code + repr(code.co_consts).encode()) if code is not None else repr(target)
    digest = hashlib.sha256((source + "|" + bound).encode()).hexdigest()
    return f"brainscore-plugin-preprocessing={name},sha256={digest}"


def _output_layer_name(network: torch.nn.Module) -> str | None:
    """Name of the module Brain-Score calls ``'logits'`` (``PytorchWrapper._output_layer``: the last child,
    recursively)."""
    parts, module = [], network
    while module._modules:
        name = next(reversed(module._modules))
        parts.append(name)
        module = module._modules[name]
    return ".".join(parts) or None


_WRAPPER_METHODS = ("get_activations", "get_layer", "register_hook", "_tensor_to_numpy", "_output_layer")


def _check_standard_wrapper(name: str, activations_model) -> None:
    """Our hooks reproduce ``PytorchWrapper`` exactly, not a subclass that changes how activations are read (e.g.
    Brain-Score's CORnet-S helper keeps recurrent steps in its own ``register_hook``), nor forward keyword
    arguments: those are refused in one line rather than scored with other numbers."""
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper

    if not isinstance(activations_model, PytorchWrapper):
        raise TypeError(f"Brain-Score model {name}: its activations model is a {type(activations_model).__name__}, "
                        "not a PytorchWrapper (only PyTorch plugins can be scored)")
    subclasses = type(activations_model).__mro__[:type(activations_model).__mro__.index(PytorchWrapper)]
    changed = [m for m in _WRAPPER_METHODS if any(m in vars(cls) for cls in subclasses)]
    if changed:
        raise TypeError(f"Brain-Score model {name}: its activations model {type(activations_model).__qualname__} "
                        f"overrides PytorchWrapper.{', '.join(changed)}, so its activations are not the module "
                        "outputs our extractor reads; wrap() the network yourself with the layers it means")
    if getattr(activations_model, "_forward_kwargs", None):
        raise TypeError(f"Brain-Score model {name}: its forward pass takes keyword arguments "
                        f"{sorted(activations_model._forward_kwargs)}, which our extractor does not pass")


def committed_regions(commitment) -> dict[str, str]:
    """The commitment's region -> layer map, without triggering lazy layer selection (only committed entries of
    a Brain-Score ``RegionLayerMap``). Regions mapped to several layers are left out."""
    layer_model = getattr(commitment, "layer_model", None)
    mapping = getattr(layer_model, "region_layer_map", None)
    if mapping is None:
        return {}
    items = dict.items(mapping) if isinstance(mapping, dict) else getattr(mapping, "items", lambda: [])()
    return {str(region): str(layer) for region, layer in items if isinstance(layer, str)}


def commitment_model(commitment, identifier: str | None = None, **options) -> RegisteredModel:
    """A Brain-Score ``ModelCommitment`` (or any BrainModel with a PyTorch ``activations_model``) as our
    :class:`RegisteredModel`: same network, weights and preprocessing, our extractor and content-keyed cache.

    ``identifier``: default the commitment's own. ``options``: :class:`RegisteredModel` options (``device``,
    ``batch_size``, ``cache``, ``progress``). Default layers: the layers committed to V1, V2, V4, IT (in that
    order, each once) when the commitment has an explicit map, else its candidate ``layers``.
    Raises ``TypeError`` (one line) when its activations model is not PyTorch (``PytorchWrapper``).
    """
    name = identifier or str(getattr(commitment, "identifier", type(commitment).__name__))
    activations_model = getattr(commitment, "activations_model", None)
    network = getattr(activations_model, "_model", None)
    if not isinstance(network, torch.nn.Module):
        raise TypeError(f"Brain-Score model {name}: its activations model is a {type(activations_model).__name__}, "
                        "not a PyTorch PytorchWrapper holding a torch.nn.Module (only PyTorch plugins can be scored)")
    _check_standard_wrapper(name, activations_model)
    function = getattr(getattr(activations_model, "_extractor", None), "preprocess", None)
    if function is None:
        raise TypeError(f"Brain-Score model {name}: its activations model has no preprocessing function "
                        "(_extractor.preprocess)")
    preprocessing = translate_preprocessing(function) or PluginPreprocessing(function, name)
    output = _output_layer_name(network)  # Brain-Score's name 'logits' means this module

    def module_name(layer: str) -> str:
        return output if layer == "logits" and output else layer

    regions = {r: module_name(layer) for r, layer in committed_regions(commitment).items() if r in BRAIN_REGIONS}
    candidate_layers = [module_name(str(layer)) for layer in (getattr(commitment, "layers", None) or [])]
    layers = tuple(dict.fromkeys(regions[r] for r in BRAIN_REGIONS if r in regions)) or tuple(candidate_layers)
    if not layers:
        raise ValueError(f"Brain-Score model {name} commits no layers (neither a region_layer_map nor layers)")
    visual_degrees = getattr(commitment, "visual_degrees", lambda: 8.0)()
    spec = ModelSpec(identifier=name, builder=lambda pretrained: network, family=FAMILY, layers=layers,
                     region_layer_map=regions, preprocessing=preprocessing, visual_degrees=float(visual_degrees),
                     num_params=sum(p.numel() for p in network.parameters()),
                     logits_layer=output,
                     description=f"Brain-Score model {name} ({type(commitment).__name__})",
                     brainscore_layers=tuple(candidate_layers))
    return RegisteredModel(spec, network=network, **options)


def resolve(identifier: str) -> ModelSpec:
    """The spec of ``brainscore:<id>`` (the family declared in :mod:`model_registry.catalog`): the Brain-Score model
    loaded once, its network hooked by our extractor. Raises :class:`UnknownModelError` for an id no plugin
    registers."""
    commitment = load_commitment(identifier[len(PREFIX):])
    spec = commitment_model(commitment, identifier).spec
    network = spec.builder(True)

    def build(pretrained: bool) -> torch.nn.Module:
        if not pretrained:
            raise ValueError(f"{identifier} has the weights its Brain-Score plugin loads; pretrained=False is not "
                             "available for brainscore: models (wrap() your own module instead)")
        return network

    return dataclasses.replace(spec, builder=build)


def is_commitment(candidate) -> bool:
    """Whether ``candidate`` is a Brain-Score BrainModel with an activations model (a ``ModelCommitment``) rather
    than one of ours."""
    from brainscore_vision.model_interface import BrainModel

    return (isinstance(candidate, BrainModel) and not isinstance(candidate, RegisteredModel)
            and hasattr(candidate, "activations_model"))


__all__ = ["PluginPreprocessing", "commitment_model", "committed_regions", "is_commitment",
           "load_commitment", "resolve", "translate_preprocessing"]
