"""The realnet-plugin model registry: ids -> models with one activations-extractor interface.

>>> from model_registry import list_models, load_model
>>> list_models('clip*')
['clip_rn101', 'clip_vit_b32']

Importing this package changes nothing in ``brainscore_vision``; ``realnet_plugin.brainscore.install()`` (run by
``import realnet_plugin``) makes these ids reachable through ``brainscore_vision.load_model``.
"""
from . import clip_models, cornet, efficientnet, realnet, timm_models, torchvision_models  # noqa: F401 (registers)
from .brain_model import RegisteredModel, load_model
from .brainscore_models import commitment_model  # registers the brainscore:<id> family
from .extractor import ActivationsExtractor, extract, layer_blocks
from .preprocessing import Preprocessing
from .reduction import Reduction
from .registry import (
    ModelSpec,
    UnknownModelError,
    build_network,
    get_spec,
    is_model,
    list_models,
    register_family,
    register_model,
)
from .stimuli import Stimuli, as_stimuli
from .wrap import wrap

__all__ = [
    "ActivationsExtractor", "ModelSpec", "Preprocessing", "Reduction", "RegisteredModel", "Stimuli",
    "UnknownModelError", "as_stimuli", "build_network", "extract", "get_spec", "is_model", "layer_blocks",
    "list_models", "load_model", "register_family", "register_model", "commitment_model", "wrap",
]
