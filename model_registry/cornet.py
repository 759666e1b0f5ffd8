"""CORnet-S (Kubilius et al. 2019), written here: an ``nn.Sequential`` of V1, V2, V4, IT and a decoder.

V2, V4 and IT are recurrent ``CORblock_S`` blocks unrolled for 2, 4 and 2 steps; their ``output`` module (an
identity) is called once per step, so the activations extractor exposes every step as ``V4.output-t0`` ...
``V4.output-t3``. Unlike the reference implementation, ``forward`` never mutates a module's stride: step 0
uses a separate strided view of the shared ``conv2`` weights via ``F.conv2d``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .download import fetch
from .preprocessing import Preprocessing
from .registry import register_model

CORNET_S_URL = "https://s3.amazonaws.com/cornet-models/cornet_s-1d3f7974.pth"
CORNET_S_SHA256 = None  # the published file is identified by its sha256 prefix in the name (1d3f7974)
CORNET_S_PARAMS = 53_416_616
CORNET_S_STEPS = {"V1.output": 1, "V2.output": 2, "V4.output": 4, "IT.output": 2}  # calls per forward pass
CORNET_S_LAYERS = ("V1", "V2", "V4", "IT")
CORNET_S_REGIONS = {"V1": "V1", "V2": "V2", "V4": "V4", "IT": "IT"}


class Identity(nn.Module):
    """Named identity, so that hooks can read a block's output at each step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class CORblockS(nn.Module):
    """Recurrent bottleneck block: ``(N, in, H, W) -> (N, out, H/2, W/2)`` after ``times`` steps."""

    scale = 4

    def __init__(self, in_channels: int, out_channels: int, times: int = 1):
        super().__init__()
        self.times = times
        wide = out_channels * self.scale
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.skip = nn.Conv2d(out_channels, out_channels, kernel_size=1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, wide, kernel_size=1, bias=False)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(wide, wide, kernel_size=3, stride=2, padding=1, bias=False)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(wide, out_channels, kernel_size=1, bias=False)
        self.nonlin3 = nn.ReLU(inplace=True)
        self.output = Identity()
        for step in range(times):
            setattr(self, f"norm1_{step}", nn.BatchNorm2d(wide))
            setattr(self, f"norm2_{step}", nn.BatchNorm2d(wide))
            setattr(self, f"norm3_{step}", nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_input(x)
        for step in range(self.times):
            if step == 0:
                skip = self.norm_skip(self.skip(x))
                stride = 2
            else:
                skip = x
                stride = 1
            x = self.nonlin1(getattr(self, f"norm1_{step}")(self.conv1(x)))
            x = F.conv2d(x, self.conv2.weight, stride=stride, padding=1)
            x = self.nonlin2(getattr(self, f"norm2_{step}")(x))
            x = getattr(self, f"norm3_{step}")(self.conv3(x))
            x = self.nonlin3(x + skip)
            x = self.output(x)
        return x


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


def cornet_s_network(num_classes: int = 1000) -> nn.Sequential:
    """The CORnet-S architecture, randomly initialised as in the reference code."""
    v1 = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
        ("norm1", nn.BatchNorm2d(64)),
        ("nonlin1", nn.ReLU(inplace=True)),
        ("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ("conv2", nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)),
        ("norm2", nn.BatchNorm2d(64)),
        ("nonlin2", nn.ReLU(inplace=True)),
        ("output", Identity()),
    ]))
    model = nn.Sequential(OrderedDict([
        ("V1", v1),
        ("V2", CORblockS(64, 128, times=2)),
        ("V4", CORblockS(128, 256, times=4)),
        ("IT", CORblockS(256, 512, times=2)),
        ("decoder", nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", Flatten()),
            ("linear", nn.Linear(512, num_classes)),
            ("output", Identity()),
        ]))),
    ]))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            n = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            nn.init.normal_(module.weight, 0.0, (2.0 / n) ** 0.5)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Remove a DataParallel-style key prefix where present."""
    return {key[len(prefix):] if key.startswith(prefix) else key: value for key, value in state_dict.items()}


def load_state_file(path, key: str | None = "state_dict") -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``weights_only=True``; unwrap ``{key: state_dict}`` and ``module.`` prefixes."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated or not a torch file
        raise ValueError(f"cannot read weights file {path}: {error}") from error
    if isinstance(checkpoint, dict) and key in checkpoint and isinstance(checkpoint[key], dict):
        checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(f"weights file {path} holds no state_dict of tensors")
    return strip_prefix(checkpoint)


def load_cornet_s_weights(model: nn.Module, path) -> nn.Module:
    """Load a published CORnet-S checkpoint (keys may carry ``module.``) strictly into ``model``."""
    state = load_state_file(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights file {path} does not fit CORnet-S: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")
    return model


@register_model(
    "cornet_s", family="cornet", layers=CORNET_S_LAYERS, region_layer_map=CORNET_S_REGIONS,
    preprocessing=Preprocessing(image_size=224, resize="resize"), weights_url=CORNET_S_URL,
    weights_sha256=CORNET_S_SHA256, num_params=CORNET_S_PARAMS, logits_layer="decoder.linear",
    description="CORnet-S (Kubilius et al. 2019), ImageNet-trained; recurrent V2 x2, V4 x4, IT x2",
    extra={"recurrent_steps": CORNET_S_STEPS},
)
def cornet_s(pretrained: bool = True) -> nn.Module:
    """CORnet-S with the published ImageNet weights when ``pretrained``."""
    model = cornet_s_network()
    if pretrained:
        load_cornet_s_weights(model, fetch(CORNET_S_URL, CORNET_S_SHA256, hash_prefix="1d3f7974"))
    return model
