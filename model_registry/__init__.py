"""The realnet-plugin model registry: ids -> models with one activations-extractor interface.

>>> from model_registry import list_models, load_model
>>> list_models('clip*')
['clip_rn101', 'clip_vit_b32']

Importing the package declares every model (:mod:`model_registry.catalog`) without importing torch; the names
that need it (``load_model``, ``extract``, ``wrap``, ...) and the submodules load on first use (PEP 562).
Importing it changes nothing in ``brainscore_vision``; ``realnet_plugin.brainscore.install()`` (run by
``import realnet_plugin``) makes these ids reachable through ``brainscore_vision.load_model``.
"""
import importlib
import importlib.util

from . import catalog  # noqa: F401 (declares every model id and family, cheaply)
from .preprocessing import Preprocessing
from .registry import (
    ModelSpec,
    UnknownModelError,
    build_network,
    get_spec,
    is_model,
    list_models,
    on_register,
    register_family,
    register_model,
)
from .weights import WeightsRecord

_LAZY = {  # public name -> the submodule defining it (imported on first use: these need torch)
    "ActivationsExtractor": "extractor", "extract": "extractor", "layer_blocks": "extractor",
    "RegisteredModel": "brain_model", "load_model": "brain_model", "Reduction": "reduction",
    "Stimuli": "stimuli", "as_stimuli": "stimuli", "wrap": "wrap", "commitment_model": "brainscore_models",
    "load_weights": "weights",
}


def __getattr__(name: str):
    """PEP 562: the torch-based public names of :data:`_LAZY` and any submodule (``model_registry.cornet``),
    imported on first use. Raises ``AttributeError`` for anything else."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ActivationsExtractor", "ModelSpec", "Preprocessing", "Reduction", "RegisteredModel", "Stimuli",
    "UnknownModelError", "WeightsRecord", "as_stimuli", "build_network", "extract", "get_spec", "is_model",
    "layer_blocks", "list_models", "load_model", "load_weights", "on_register", "register_family", "register_model",
    "commitment_model", "wrap",
]
