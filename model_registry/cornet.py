"""CORnet-S (Kubilius et al. 2019), written here: an ``nn.Sequential`` of V1, V2, V4, IT and a decoder.

V2, V4 and IT are recurrent ``CORblock_S`` blocks unrolled for 2, 4 and 2 steps; their ``output`` module (an
identity) is called once per step, so the activations extractor exposes every step as ``V4.output-t0`` ...
``V4.output-t3``. Unlike the reference implementation, ``forward`` never mutates a module's stride: step 0
uses a separate strided view of the shared ``conv2`` weights via ``F.conv2d``.
"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import catalog
from .storage.download import fetch
from .weights import load_weights, read_state_dict

CORNET_S_WEIGHTS = catalog.CORNET_S_WEIGHTS  # the published file, declared once (model_registry/catalog.py)
CORNET_S_URL = CORNET_S_WEIGHTS.url
# What is known about the published file (none of it could be checked against the file itself here: it is not
# downloadable from this machine):
# - "1d3f7974" in its name follows torch.hub's naming (``name-<first 8 hex digits of the sha256>.pth``), but CORnet's
#   own code loads it with ``torch.utils.model_zoo.load_url`` whose ``check_hash`` defaults to False, so nobody has
#   verified that the digits are a sha256 prefix: UNCONFIRMED.
# - Brain-Score records a sha1 for its mirror of this file: earlier brainscore_vision releases
#   load ``CORnet-S/cornet_s-1d3f7974.pth`` from its storage with sha1 a4bfd8ed...d60f, and 2.4.2 loads
#   ``cornet_s/cornet_s_epoch43.pth.tar`` with the same sha1 (the same bytes). That the mirror equals the S3 file is
#   inferred from the identical name: a full digest published by a third party.
# So a file is accepted (:func:`verify_cornet_s_file`) when its sha256 equals CORNET_S_SHA256 (when set), its sha1
# equals CORNET_S_SHA1, or its sha256 starts with the name's digits; failing all three, when it holds exactly
# CORnet-S's tensors (names, shapes, 53,416,616 parameters, finite values), with a warning. A file that fails is
# moved aside (``<name>.rejected``), never deleted, so a correct download is never lost.
CORNET_S_SHA256 = None  # not published
CORNET_S_SHA1 = "a4bfd8eda33b45fd945da1b972ab0b7cad38d60f"  # Brain-Score's record of its copy (see above)
CORNET_S_NAME_DIGITS = CORNET_S_WEIGHTS.sha256_prefix  # the record's hash: the digits in the URL's file name
CORNET_S_PARAMS = catalog.CORNET_S_PARAMS
CORNET_S_STEPS = catalog.CORNET_S_STEPS  # calls per forward pass
CORNET_S_LAYERS = catalog.CORNET_S_LAYERS
CORNET_S_REGIONS = catalog.CORNET_S_REGIONS


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
    """Read a checkpoint with ``weights_only=True``; unwrap ``{key: state_dict}`` and ``module.`` prefixes.

    Raises :class:`~model_registry.weights.WeightsFileError` (a ``ValueError``, one line naming the file) for an
    unreadable file or a pickle that would run code (see :func:`model_registry.weights.read_state_dict`)."""
    return strip_prefix(read_state_dict(path, key=key))


def load_cornet_s_weights(model: nn.Module, path) -> nn.Module:
    """Load a published CORnet-S checkpoint (keys may carry ``module.``) strictly into ``model``.

    Raises :class:`~model_registry.weights.WeightsFileError` naming the file and the first key / tensor that does
    not fit (see :func:`model_registry.weights.load_weights`); ``model`` is unchanged then."""
    return load_weights(model, path, model_name="CORnet-S")


def cornet_s(pretrained: bool = True) -> nn.Module:
    """CORnet-S (the builder of ``cornet_s``, declared in :mod:`model_registry.catalog`) with the published ImageNet
    weights when ``pretrained``: fetched by the one downloader, checked by :func:`verify_cornet_s_file` (the
    record's sha256 digits, Brain-Score's sha1, or CORnet-S's exact tensors) and loaded by
    :func:`~model_registry.weights.load_weights`."""
    model = cornet_s_network()
    if pretrained:
        path = fetch(CORNET_S_URL, CORNET_S_SHA256)
        verify_cornet_s_file(path)
        load_cornet_s_weights(model, path)
    return model


class CORnetWeightsWarning(UserWarning):
    """The CORnet-S weights file matched no recorded digest; it was accepted because it holds CORnet-S's tensors."""


def verify_cornet_s_file(path) -> str:
    """Check a CORnet-S ImageNet weights file; returns how it was accepted: ``'sha256'`` (equals
    ``CORNET_S_SHA256``), ``'sha1'`` (equals Brain-Score's record ``CORNET_S_SHA1``), ``'name-digits'`` (sha256
    starts with ``CORNET_S_NAME_DIGITS``) or ``'structure'`` (no digest matched, but the file holds exactly
    CORnet-S's state dict: names, shapes, 53,416,616 parameters, finite values; a :class:`CORnetWeightsWarning`
    says so). Otherwise the file is renamed to ``<name>.rejected`` (never deleted) and ``ValueError`` names both
    files, the digests found and those expected.
    """
    import hashlib

    from .storage.download import file_sha256

    path = Path(path)
    sha256 = file_sha256(path)
    if CORNET_S_SHA256 and sha256 == CORNET_S_SHA256:
        return "sha256"
    sha1 = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha1.update(block)
    if sha1.hexdigest() == CORNET_S_SHA1:
        return "sha1"
    if sha256.startswith(CORNET_S_NAME_DIGITS):
        return "name-digits"
    problem = _cornet_s_structure_problem(path)
    if problem is None:
        warnings.warn(f"{path}: sha256 {sha256} / sha1 {sha1.hexdigest()} match no recorded digest of the CORnet-S "
                      f"weights (sha1 {CORNET_S_SHA1}, sha256 prefix {CORNET_S_NAME_DIGITS}), but the file holds "
                      "exactly CORnet-S's tensors; using it", CORnetWeightsWarning, stacklevel=2)
        return "structure"
    rejected = path.with_name(path.name + ".rejected")
    os.replace(path, rejected)
    raise ValueError(f"{path} is not the CORnet-S ImageNet weights file: sha256 {sha256}, sha1 {sha1.hexdigest()} "
                     f"(expected sha1 {CORNET_S_SHA1} or a sha256 starting with {CORNET_S_NAME_DIGITS}) and "
                     f"{problem}; moved it to {rejected} (not deleted), download it again or place the right file")


def _cornet_s_structure_problem(path: Path) -> str | None:
    """``None`` when ``path`` holds exactly CORnet-S's state dict with finite values, else what is wrong."""
    try:
        state = load_state_file(path)
    except ValueError as error:
        return str(error).splitlines()[0]
    network = cornet_s_network()
    expected = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        shapes = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        return (f"its tensors differ from CORnet-S's (missing {missing[:3]}, unexpected {extra[:3]}, shapes "
                f"{shapes[:3]})")
    n_params = sum(state[name].numel() for name, _ in network.named_parameters())
    if n_params != CORNET_S_PARAMS:
        return f"it holds {n_params} parameters, expected {CORNET_S_PARAMS}"
    bad = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        return f"tensors {bad[:3]} hold NaN or infinite values"
    return None
