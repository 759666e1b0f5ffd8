"""The visual towers of OpenAI CLIP (via open_clip): the builders of ``clip_rn101`` and ``clip_vit_b32`` (declared with
their weights records in :mod:`model_registry.catalog`)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from .catalog import CLIP_MEAN, CLIP_PREPROCESSING, CLIP_STD, CLIP_WEIGHTS  # noqa: F401 (re-exported)
from .weights import WeightsFileError, load_weights, read_state_dict

CLIP_URLS = {architecture: record.url for architecture, record in CLIP_WEIGHTS.items()}


def clip_visual(architecture: str, pretrained: bool) -> torch.nn.Module:
    """The image tower of open_clip's ``architecture`` (OpenAI weights through our downloader when pretrained)."""
    try:
        import open_clip
    except ImportError as error:
        raise ImportError("CLIP models need open_clip: pip install 'realnet-plugin[clip]'") from error
    if not pretrained:
        return open_clip.create_model(architecture, pretrained=None, quick_gelu=True).visual
    path = CLIP_WEIGHTS[architecture].fetch()  # the one downloader, checked against the sha256 OpenAI's URL carries
    model = open_clip.create_model(architecture, pretrained=None, quick_gelu=True)
    load_weights(model, openai_state_dict(path), source=str(path), model_name=f"open_clip {architecture}")
    return model.visual


_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")  # scalars, not weights of the model


def openai_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` of an OpenAI CLIP file, without its three scalar entries (``input_resolution`` ...).

    OpenAI publishes TorchScript archives, which ``torch.load(weights_only=True)`` cannot read: such an archive is
    read with ``torch.jit.load`` (TorchScript, not arbitrary pickle), and only here, after :func:`fetch` matched the
    sha256 that OpenAI's URL carries. Any other file is read by :func:`model_registry.weights.read_state_dict`.
    Raises :class:`~model_registry.weights.WeightsFileError` naming the file when it cannot be read.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            torchscript = any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        torchscript = False
    if torchscript:
        try:
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
        except RuntimeError as error:
            raise WeightsFileError(f"cannot read weights file {path}: a damaged TorchScript archive "
                                   f"({' '.join(str(error).split())[:200]})") from None
    else:
        state = read_state_dict(path)
    return {key: value for key, value in state.items() if key not in _OPENAI_EXTRA_KEYS}


def clip_rn101(pretrained: bool = True) -> torch.nn.Module:
    """The image tower of OpenAI CLIP RN101 (``(N, 3, 224, 224)`` -> ``(N, 512)``)."""
    return clip_visual("RN101", pretrained)


def clip_vit_b32(pretrained: bool = True) -> torch.nn.Module:
    """The image tower of OpenAI CLIP ViT-B/32 (``(N, 3, 224, 224)`` -> ``(N, 512)``)."""
    return clip_visual("ViT-B-32", pretrained)
