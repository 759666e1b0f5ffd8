"""The visual towers of OpenAI CLIP (via open_clip): ``clip_rn101`` and ``clip_vit_b32``."""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from .preprocessing import Preprocessing
from .registry import register_model
from .storage.download import fetch
from .weights import WeightsFileError, load_weights, read_state_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_PREPROCESSING = Preprocessing(image_size=224, resize="resize_crop", crop_fraction=1.0, mean=CLIP_MEAN,
                                   std=CLIP_STD, interpolation="bicubic")
CLIP_URLS = {
    "RN101": "https://openaipublic.azureedge.net/clip/models/"
             "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "ViT-B-32": "https://openaipublic.azureedge.net/clip/models/"
                "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
}


def clip_visual(architecture: str, pretrained: bool) -> torch.nn.Module:
    """The image tower of open_clip's ``architecture`` (OpenAI weights through our downloader when pretrained)."""
    try:
        import open_clip
    except ImportError as error:
        raise ImportError("CLIP models need open_clip: pip install 'realnet-plugin[clip]'") from error
    if not pretrained:
        return open_clip.create_model(architecture, pretrained=None, quick_gelu=True).visual
    url = CLIP_URLS[architecture]
    sha256 = url.rsplit("/", 2)[-2]  # OpenAI's URLs carry the file's sha256
    path = fetch(url, sha256, filename=f"clip-{architecture}.pt")
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


@register_model(
    "clip_rn101", family="clip", layers=("layer1", "layer2", "layer3", "layer4", "attnpool"),
    region_layer_map={"V1": "layer1", "V2": "layer2", "V4": "layer3", "IT": "layer4"},
    preprocessing=CLIP_PREPROCESSING, weights_url=CLIP_URLS["RN101"], weights_sha256=CLIP_URLS["RN101"].split("/")[-2],
    description="OpenAI CLIP RN101 image encoder (Radford et al. 2021) via open_clip",
)
def clip_rn101(pretrained: bool = True) -> torch.nn.Module:
    return clip_visual("RN101", pretrained)


_VIT_BLOCKS = tuple(f"transformer.resblocks.{i}" for i in range(12))


@register_model(
    "clip_vit_b32", family="clip", layers=(*_VIT_BLOCKS, "ln_post"),
    region_layer_map={"V1": _VIT_BLOCKS[1], "V2": _VIT_BLOCKS[3], "V4": _VIT_BLOCKS[6], "IT": _VIT_BLOCKS[10]},
    preprocessing=CLIP_PREPROCESSING, weights_url=CLIP_URLS["ViT-B-32"],
    weights_sha256=CLIP_URLS["ViT-B-32"].split("/")[-2],
    description="OpenAI CLIP ViT-B/32 image encoder (Radford et al. 2021) via open_clip",
)
def clip_vit_b32(pretrained: bool = True) -> torch.nn.Module:
    return clip_visual("ViT-B-32", pretrained)
