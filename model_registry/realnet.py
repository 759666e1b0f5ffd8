"""ReAlnet: CORnet-S plus the EEG generation module (Lu, Wang & Golomb), and the ``realnet_sXX_bYY`` ids.

Architecture (REFERENCE.md section 1): for each visual layer (default V1, V2, V4, IT) a ``Linear(flattened size,
128) + ReLU``; the four 128-d codes are concatenated (N x 512) and one ``Linear(512, n_output)`` predicts the
EEG (default 17 channels x 20 time points = 340, flattened channel-major: index = channel * n_times + time).
Attribute names follow the authors' checkpoints (``realnet``, ``fc_v1`` ... ``fc``), so their files load after
stripping ``module.`` prefixes. The backbone runs once per forward; the layer outputs are taken on the way.

As a registered model a ReAlnet is its CORnet-S backbone (same layers and recurrent steps as ``cornet_s``).
Trained runs live in ``$REALNET_HOME/models/realnet_sXX_bYY/`` (``model.pt`` state dict + ``config.json``).

Any registered backbone (issue 16): ``ReAlnetConfig(backbone='torchvision:resnet18', layers=..., feature_sizes=...)``
takes the chosen modules' outputs with forward hooks during its one backbone pass, optionally after a fixed
reduction (``reduce='pool'`` / ``'project'``, stated in the spec's ``generation_module``); such a run is
``realnet_<backbone>_sXX_bYY`` (``:`` written ``-``) and scores as its backbone (its layers and region map).
fMRI targets (``modality='fmri'``) give ``realnet-fmri_...`` ids; their PCA is kept in the weights' buffers.

Model identity: the folder name (the id), the config (subject, beta) and the weights must agree. ``save_trained``
records the sha256 of ``model.pt`` in ``config.json``; resolving an id refuses (:class:`TrainedModelError`) a folder
whose config names another subject or beta, a folder with weights but no (readable) config or the reverse, and
building refuses weights whose sha256 differs from the recorded one. An existing local folder is never replaced by
the published weights. Folders written before the sha256 was recorded are refused with a message naming
:func:`seal_trained`, which records it after checking that the id, config and weights' shapes agree: only the user
can vouch that such a ``model.pt`` is the run's own.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import catalog
from .cornet import CORNET_S_LAYERS, CORNET_S_REGIONS, CORNET_S_STEPS, cornet_s_network
from .preprocessing import Preprocessing
from .registry import ModelSpec, TrainedRunInfo, UnknownModelError
from .storage.atomic import atomic_path
from .storage.download import file_sha256
from .storage.paths import models_dir
from .weights import load_weights

EEG_HIDDEN = 128
# the published files (URL template, sha1s, records) are declared once in model_registry/catalog.py
PUBLISHED_URL = catalog.REALNET_URL
PUBLISHED_SHA1 = catalog.REALNET_SHA1
PUBLISHED_WEIGHTS = catalog.REALNET_WEIGHTS
MODEL_ID = catalog.REALNET_ID
list_realnets = catalog.list_realnets
CORNET = "cornet_s"
MODALITIES = ("eeg", "fmri")
REDUCTIONS = ("none", "pool", "project")
# a fixed random projection is a dense (features x dim) matrix regenerated at every build: refused above this size
MAX_PROJECTION_ELEMENTS = 1 << 26
_CHANNELS = {"V1": 64, "V2": 128, "V4": 256, "IT": 512}
_DOWNSAMPLING = {"V1": 4, "V2": 8, "V4": 16, "IT": 32}


@dataclass(frozen=True)
class ReAlnetConfig:
    """Shape of a ReAlnet. ``n_output`` = EEG channels x time points predicted (340 = 17 x 20 in the paper)."""

    image_size: int = 224
    layers: tuple[str, ...] = CORNET_S_LAYERS
    n_output: int = 340
    num_classes: int = 1000
    backbone: str = CORNET
    modality: str = "eeg"
    feature_sizes: tuple[int, ...] = ()
    reduce: str = "none"
    reduce_dim: int = 0
    reduce_seed: int = 0
    target_inputs: int = 0  # fMRI: voxels entering the target PCA saved with the model (0: none)

    @property
    def is_cornet(self) -> bool:
        """Whether the backbone is CORnet-S (the paper's model, whose heads and ids keep the paper's form)."""
        return self.backbone == CORNET

    def layer_features(self) -> dict[str, int]:
        """Flattened output size per layer at ``image_size`` (CORnet-S V1 at 224 px: 64 x 56 x 56 = 200,704);
        other backbones: ``feature_sizes``, measured when the model was first built (:func:`probe_feature_sizes`).
        """
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {self.modality!r}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {list(REDUCTIONS)}, got {self.reduce!r}")
        if self.reduce != "none" and self.reduce_dim < 1:
            raise ValueError(f"reduce={self.reduce!r} needs reduce_dim >= 1, got {self.reduce_dim}")
        if not self.is_cornet:
            if len(self.feature_sizes) != len(self.layers) or not all(n > 0 for n in self.feature_sizes):
                raise ValueError(f"a ReAlnet on {self.backbone} needs one positive feature size per layer "
                                 f"{list(self.layers)}, got {list(self.feature_sizes)}")
            return dict(zip(self.layers, self.feature_sizes))
        unknown = [layer for layer in self.layers if layer not in _CHANNELS]
        if unknown:
            raise ValueError(f"ReAlnet layers must be among {list(_CHANNELS)}, got {unknown}")
        if self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32, got {self.image_size}")
        return {layer: _CHANNELS[layer] * (self.image_size // _DOWNSAMPLING[layer]) ** 2 for layer in self.layers}


def head_name(layer: str) -> str:
    """Attribute name of a layer's EEG head: ``V1`` -> ``fc_v1`` (the authors' naming); ``layer1.0`` ->
    ``fc_layer1_0``."""
    return f"fc_{layer.lower().replace('.', '_')}"


def build_backbone(config: ReAlnetConfig) -> nn.Module:
    """A fresh (randomly initialised) backbone of ``config``: CORnet-S, or the registered model ``config.backbone``
    (any registry id) without its published weights."""
    if config.is_cornet:
        return cornet_s_network(config.num_classes)
    from .registry import get_spec

    return get_spec(config.backbone).builder(False)


def _layer_modules(backbone: nn.Module, layers: tuple[str, ...], backbone_id: str) -> list[nn.Module]:
    modules = dict(backbone.named_modules())
    missing = [layer for layer in layers if layer not in modules]
    if missing:
        raise ValueError(f"backbone {backbone_id} has no module {missing[0]!r} (layers asked: {list(layers)}; "
                         f"top-level modules: {[name for name, _ in backbone.named_children()]})")
    return [modules[layer] for layer in layers]


class _Capture:
    """Forward hooks recording each layer's output once per forward (a layer called twice is an error: its
    features would be ambiguous)."""

    def __init__(self, modules: list[nn.Module], layers: tuple[str, ...], backbone_id: str):
        self.layers, self.backbone_id = layers, backbone_id
        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = [module.register_forward_hook(self._hook(layer)) for module, layer in zip(modules, layers)]

    def _hook(self, layer: str):
        def hook(module, inputs, output):
            if layer in self.outputs:
                raise ValueError(f"layer {layer!r} of {self.backbone_id} runs more than once per forward; choose a "
                                 "module called once (or the recurrent block itself)")
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {layer!r} of {self.backbone_id} returns {type(output).__name__}, not one "
                                 "tensor (batch first); choose another layer")
            self.outputs[layer] = output
        return hook

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def _probe_outputs(backbone: nn.Module, layers: tuple[str, ...], image_size: int,
                   backbone_id: str) -> dict[str, torch.Tensor]:
    """Each layer's output for two zero images ``(2, 3, image_size, image_size)``, in eval mode (modes and
    BatchNorm statistics left as they were)."""
    modes = {module: module.training for module in backbone.modules()}
    parameter = next(backbone.parameters(), None)
    images = torch.zeros(2, 3, image_size, image_size, dtype=parameter.dtype if parameter is not None else None,
                         device=parameter.device if parameter is not None else None)
    backbone.eval()
    try:
        with _Capture(_layer_modules(backbone, layers, backbone_id), layers, backbone_id) as capture:
            backbone(images)
    finally:
        for module, mode in modes.items():
            module.training = mode
    missed = [layer for layer in layers if layer not in capture.outputs]
    if missed:
        raise ValueError(f"layer {missed[0]!r} of {backbone_id} is not called in its forward")
    return {layer: capture.outputs[layer].cpu() for layer in layers}


def probe_feature_sizes(backbone: nn.Module, layers: tuple[str, ...], image_size: int,
                        backbone_id: str = "backbone") -> tuple[int, ...]:
    """Flattened output size of each of ``layers`` for one ``(3, image_size, image_size)`` image (one eval-mode
    forward of two zero images; modes and BatchNorm statistics unchanged). Raises ``ValueError`` naming a missing
    layer, one not called, called twice, or whose output is not one tensor."""
    outputs = _probe_outputs(backbone, layers, image_size, backbone_id)
    return tuple(int(outputs[layer][0].numel()) for layer in layers)


def _pool_side(channels: int, side: int, dim: int) -> int:
    """Largest pooled side ``s <= side`` with ``channels * s * s <= dim`` (at least 1)."""
    return max(1, min(side, math.isqrt(max(dim // channels, 1))))


class _Reduce(nn.Module):
    """The optional fixed reduction before a layer's encoder (no trained parameters):
    ``'pool'``: adaptive average pooling of a (C, H, W) output to the largest square grid with at most ``dim``
    features (C x s x s); ``'project'``: a fixed Gaussian random projection ``(n, dim) / sqrt(dim)`` drawn from
    ``seed`` (regenerated at every build, not stored in the weights)."""

    def __init__(self, kind: str, n_features: int, dim: int, seed: int, layer: str):
        super().__init__()
        self.kind, self.layer = kind, layer
        if kind == "project":
            if n_features * dim > MAX_PROJECTION_ELEMENTS:
                raise ValueError(f"layer {layer!r}: a random projection of {n_features} features to {dim} needs a "
                                 f"{n_features} x {dim} matrix (over {MAX_PROJECTION_ELEMENTS} values); use "
                                 "reduce='pool' or a smaller reduce_dim")
            generator = torch.Generator().manual_seed(seed)
            matrix = torch.randn(n_features, dim, generator=generator) / math.sqrt(dim)
            self.register_buffer("matrix", matrix, persistent=False)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "project":
            return x.flatten(1) @ self.matrix.to(x.dtype)
        if x.ndim != 4:
            raise ValueError(f"layer {self.layer!r}: reduce='pool' needs (N, C, H, W) outputs, got shape "
                             f"{tuple(x.shape)}; use reduce='project'")
        if x[0].numel() <= self.dim:
            return x.flatten(1)
        side = _pool_side(x.shape[1], min(x.shape[2], x.shape[3]), self.dim)
        return nn.functional.adaptive_avg_pool2d(x, side).flatten(1)


class ReAlnet(nn.Module):
    """A backbone (``self.realnet``: CORnet-S, or any registered model) + the brain-response generation module.
    ``forward(images (N,3,S,S))`` -> ``(backbone output (N, classes), prediction (N, n_output))``.

    Generation module: per layer of ``config.layers`` one ``Linear(features, 128) + ReLU`` (after the optional
    fixed ``config.reduce``: pooling or random projection; CORnet-S keeps the paper's full-size encoders), the
    codes concatenated, one ``Linear(128 x layers, n_output)``. CORnet-S takes its stages in order; other backbones
    run once with forward hooks on the chosen modules (each must run once per forward and return one tensor).
    """

    def __init__(self, config: ReAlnetConfig = ReAlnetConfig(), backbone: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.realnet = backbone if backbone is not None else build_backbone(config)
        if config.is_cornet and config.reduce != "none":
            raise ValueError("the CORnet-S ReAlnet keeps the paper's full-size encoders (reduce='none')")
        if not config.is_cornet:
            _layer_modules(self.realnet, config.layers, config.backbone)  # a missing layer fails here
        self.reducers = nn.ModuleDict()
        sizes = config.layer_features()
        widths = dict(sizes)
        if not config.is_cornet:
            probed = _probe_outputs(self.realnet, config.layers, config.image_size, config.backbone)
            found = tuple(int(probed[layer][0].numel()) for layer in config.layers)
            if found != tuple(sizes.values()):
                raise ValueError(f"{config.backbone} at image_size {config.image_size}: layers {list(config.layers)} "
                                 f"give {list(found)} features, the config records {list(sizes.values())}")
            for layer in config.layers:
                if config.reduce != "none":
                    reducer = _Reduce(config.reduce, sizes[layer], config.reduce_dim, config.reduce_seed, layer)
                    self.reducers[head_name(layer)] = reducer
                    widths[layer] = int(reducer(probed[layer]).shape[1])
        for layer in config.layers:
            setattr(self, head_name(layer), nn.Linear(widths[layer], EEG_HIDDEN))
        self.fc = nn.Linear(EEG_HIDDEN * len(config.layers), config.n_output)
        self.activation = nn.ReLU()
        if config.target_inputs:  # ReAlnet-fMRI: the targets' PCA (training images only) and z-score, kept
            self.register_buffer("target_mean", torch.zeros(config.target_inputs))
            self.register_buffer("target_components", torch.zeros(config.n_output, config.target_inputs))
            self.register_buffer("target_zscore", torch.tensor([0.0, 1.0]))

    def _encode(self, layer: str, x: torch.Tensor) -> torch.Tensor:
        name = head_name(layer)
        if name in self.reducers:
            x = self.reducers[name](x)
        return self.activation(getattr(self, name)(x.flatten(1)))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.config.is_cornet:
            try:  # looked up at every call (a module replaced since, e.g. by SyncBatchNorm, is the one hooked)
                modules = [self.realnet.get_submodule(layer) for layer in self.config.layers]
            except AttributeError:
                modules = _layer_modules(self.realnet, self.config.layers, self.config.backbone)  # names the layer
            with _Capture(modules, self.config.layers, self.config.backbone) as capture:
                output = self.realnet(images)
            missed = [layer for layer in self.config.layers if layer not in capture.outputs]
            if missed:
                raise ValueError(f"layer {missed[0]!r} of {self.config.backbone} did not run in this forward")
            codes = [self._encode(layer, capture.outputs[layer]) for layer in self.config.layers]
            return output, self.fc(torch.cat(codes, dim=1))
        codes, x = [], images
        for name, stage in self.realnet.named_children():  # one backbone pass: V1, V2, V4, IT, decoder
            x = stage(x)
            if name in self.config.layers:
                codes.append(self.activation(getattr(self, head_name(name))(x.flatten(1))))
        return x, self.fc(torch.cat(codes, dim=1))


def load_realnet_weights(model: ReAlnet, path, *, assign: bool = False) -> ReAlnet:
    """Load our checkpoints or the authors' (``module.`` anywhere in keys, ``realnet.module.*``, ``fc_*``) strictly
    into ``model`` (:func:`model_registry.weights.load_weights`; ``assign``: the file's tensors become the model's,
    as a model built on the meta device needs).

    Raises :class:`~model_registry.weights.WeightsFileError` (a ``ValueError``), one line naming the file and the
    first key / tensor that does not fit; for an EEG head whose input size differs it names the image size the
    file was trained at (e.g. ``fc_v1.weight`` of shape (128, 50176) = a ReAlnet trained at 112 px). ``model`` is
    unchanged then. Weights stored in lower precision than the model computes in (a float16 copy of a float32 run)
    load cast up, with a ``RuntimeWarning`` naming the file.
    """
    return load_weights(model, path, rename=lambda key: key.replace("module.", ""),
                        model_name=f"ReAlnet (image_size {model.config.image_size}, layers "
                                   f"{'/'.join(model.config.layers)}, n_output {model.config.n_output})",
                        explain=lambda key, found, expected: _explain_shape(model.config, key, found, expected),
                        assign=assign, warn_lower_precision=True)


def loaded_realnet(config: ReAlnetConfig, path) -> ReAlnet:
    """A ReAlnet of ``config`` holding the weights in ``path`` (checked as :func:`load_realnet_weights` does).

    A CORnet-S ReAlnet is built on the meta device and the file's tensors assigned to it: its 57 M parameters are
    not randomly initialised first only to be overwritten (~0.4-0.6 s per build). Other backbones run a probe
    forward and may hold seeded projections that are not in the file, so they are built normally.
    """
    if not config.is_cornet:
        return load_realnet_weights(ReAlnet(config), path)
    with torch.device("meta"):
        model = ReAlnet(config)
    load_realnet_weights(model, path, assign=True)
    unset = [name for name, tensor in (*model.named_parameters(), *model.named_buffers()) if tensor.is_meta]
    if unset:  # a tensor the state dict does not hold (none in a CORnet-S ReAlnet today)
        raise RuntimeError(f"ReAlnet loaded from {path} left {unset[0]!r} unset; build it with ReAlnet(config) "
                           "and load_realnet_weights instead")
    return model


def _explain_shape(config: ReAlnetConfig, key: str, found: tuple, expected: tuple) -> str | None:
    """For ``fc_<layer>.weight``: the image size the file's input width implies; for ``fc.*``: its n_output."""
    for layer in config.layers if config.is_cornet else ():
        if key == f"{head_name(layer)}.weight" and len(found) == 2 and len(expected) == 2 and found[1] != expected[1]:
            side = math.isqrt(found[1] // _CHANNELS[layer]) if found[1] % _CHANNELS[layer] == 0 else 0
            if side and side * side * _CHANNELS[layer] == found[1]:
                return (f"the file's {layer} head takes {_CHANNELS[layer]} x {side} x {side} features: a ReAlnet "
                        f"trained at image_size {side * _DOWNSAMPLING[layer]}, this one is built for "
                        f"{config.image_size}")
            return f"the file's {layer} head takes {found[1]} features, not {_CHANNELS[layer]} x n x n"
    if key in ("fc.weight", "fc.bias") and found[:1] != expected[:1]:
        return f"the file predicts {found[0]} EEG values per image, this config n_output={config.n_output}"
    return None


def model_id(subject: int, beta: float, backbone: str = CORNET, modality: str = "eeg") -> str:
    """``(1, 100)`` -> ``'realnet_s01_b100'``; fractional betas use ``p`` (``0.5`` -> ``b0p5``). Another backbone
    enters the id with ``:`` written as ``-`` (``torchvision:resnet18`` -> ``realnet_torchvision-resnet18_s01_b100``),
    fMRI targets as ``realnet-fmri_...``. Raises ``ValueError`` for a modality other than eeg / fmri."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    beta_text = f"{beta:g}".replace(".", "p")
    prefix = "realnet" + ("-fmri" if modality == "fmri" else "")
    middle = "" if backbone == CORNET else "_" + backbone.replace(":", "-")
    identifier = f"{prefix}{middle}_s{subject:02d}_b{beta_text}"
    if not MODEL_ID.fullmatch(identifier):
        raise ValueError(f"backbone id {backbone!r} cannot form a ReAlnet id ({identifier!r}): use letters, digits, "
                         "'_', '.', '-' and ':'")
    return identifier


def config_model_id(subject: int, beta: float, config: ReAlnetConfig) -> str:
    """The id of a ReAlnet with ``config`` trained on ``subject`` with ``beta`` (:func:`model_id`)."""
    return model_id(subject, beta, config.backbone, config.modality)


class TrainedModelError(ValueError):
    """A trained-model folder whose id, config and weights disagree, or whose config is missing or unreadable."""


@dataclass
class TrainedRun:
    """What a finished training run stores beside ``model.pt`` in ``config.json``.

    ``weights_sha256``: hex sha256 of ``model.pt``, filled in by :func:`save_trained` (``None`` in folders written
    before it was recorded; see :func:`seal_trained`).
    """

    subject: int
    beta: float
    config: ReAlnetConfig
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    info: dict = field(default_factory=dict)
    weights_sha256: str | None = None

    def to_json(self) -> str:
        payload = {"model_id": self.model_id, "subject": self.subject, "beta": self.beta,
                   "config": asdict(self.config), "preprocessing": asdict(self.preprocessing), "info": self.info,
                   "weights_sha256": self.weights_sha256}
        return json.dumps(payload, indent=2)

    @property
    def model_id(self) -> str:
        """The run's id, from its subject, beta, backbone and modality."""
        return config_model_id(self.subject, self.beta, self.config)

    @classmethod
    def from_json(cls, text: str) -> TrainedRun:
        """Parse ``config.json``; raises ``ValueError`` with one line naming the offending key (``subject``,
        ``config.image_size`` ...) for a missing, unknown or ill-typed entry, or where the JSON is truncated or
        invalid."""
        payload = _parse_json(text)
        if not isinstance(payload, dict):
            raise ValueError(f"expected a JSON object, found {type(payload).__name__}")
        subject, beta = _require(payload, "subject"), _require(payload, "beta")
        sha = payload.get("weights_sha256")
        if isinstance(subject, bool) or not isinstance(subject, int) or subject < 0:
            raise ValueError(f"key 'subject' must be a non-negative integer, found {subject!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
            raise ValueError(f"key 'beta' must be a finite number >= 0, found {beta!r}")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise ValueError(f"key 'weights_sha256' must be 64 hex digits, found {sha!r}")
        config = _section(payload, "config", _CONFIG_TYPES, ReAlnetConfig)
        prep = _section(payload, "preprocessing", _PREPROCESSING_TYPES, Preprocessing)
        try:
            config = ReAlnetConfig(**{**config, "layers": tuple(config["layers"]),
                                      "feature_sizes": tuple(config.get("feature_sizes", ()))})
            config.layer_features()
            expected = config_model_id(subject, beta, config)
            preprocessing = Preprocessing(**{**prep, "mean": tuple(prep["mean"]), "std": tuple(prep["std"])})
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid 'config' / 'preprocessing': {_one_line(error)}") from None
        recorded = payload.get("model_id")
        if recorded is not None and recorded != expected:
            raise ValueError(f"its model_id {recorded!r} disagrees with its subject {subject}, beta {beta:g}, "
                             f"backbone {config.backbone} and modality {config.modality} ({expected})")
        info = payload.get("info", {})
        if not isinstance(info, dict):
            raise ValueError(f"key 'info' must be an object, found {type(info).__name__}")
        return cls(subject, float(beta), config, preprocessing, info, sha)


# The keys every config.json has held since the first release (a missing one would silently take a default that
# may not be the run's), with the JSON types each must have.
_NUMBER = (int, float)
_CONFIG_TYPES = {"image_size": int, "layers": list, "n_output": int, "num_classes": int}
_PREPROCESSING_TYPES = {"image_size": int, "resize": str, "crop_fraction": _NUMBER, "mean": list, "std": list,
                        "interpolation": str}


def _one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split())


def _parse_json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if not text.strip():
            raise ValueError("the file is empty; expected a JSON object") from None
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated"):
            raise ValueError(f"truncated JSON: it ends at character {len(text)} (line {error.lineno}) inside an "
                             "unfinished value") from None
        raise ValueError(f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None


def _require(payload: dict, key: str, prefix: str = ""):
    if key not in payload:
        raise ValueError(f"missing key '{prefix}{key}'")
    return payload[key]


def _section(payload: dict, name: str, types: dict, kind_of: type) -> dict:
    """``payload[name]``, an object holding the keys of ``types`` with JSON values of those types, and no key that
    is not a field of the dataclass ``kind_of`` (fields added later with defaults may be absent)."""
    section = _require(payload, name)
    if not isinstance(section, dict):
        raise ValueError(f"key '{name}' must be an object, found {type(section).__name__}")
    for key, kind in types.items():
        value = _require(section, key, f"{name}.")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"key '{name}.{key}' has {value!r}, expected a "
                             f"{'number' if kind is _NUMBER else {int: 'integer', str: 'string', list: 'list'}[kind]}")
        if kind is list and not all(isinstance(item, str if key == "layers" else _NUMBER) for item in value):
            raise ValueError(f"key '{name}.{key}' has {value!r}, expected a list of "
                             f"{'layer names' if key == 'layers' else 'numbers'}")
    known = [f.name for f in dataclasses.fields(kind_of)]
    unknown = [key for key in section if key not in known]
    if unknown:
        raise ValueError(f"unknown key '{name}.{unknown[0]}' (known: {', '.join(known)})")
    return section


def save_trained(model: ReAlnet, run: TrainedRun, root: str | Path | None = None) -> Path:
    """Register a trained ReAlnet: atomically write ``model.pt`` and then ``config.json`` (with ``model.pt``'s
    sha256) into ``<root>/<model id>/`` (root default ``$REALNET_HOME/models``). Returns the folder. Equal weights
    give a byte-identical ``model.pt`` (so the same sha256) wherever and however often they are saved.

    Raises ``ValueError`` when ``run.config`` is not the model's own config.
    """
    if run.config != model.config:
        raise ValueError(f"run.config {run.config} differs from the model's config {model.config}")
    folder = Path(root or models_dir()) / run.model_id
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.pt") as tmp:
        with open(tmp, "wb") as handle:  # to a handle: torch names the archive 'archive', not after the temporary
            torch.save(model.state_dict(), handle)  # file, so equal weights give equal bytes and the same sha256
        sha = file_sha256(tmp)
    with atomic_path(folder / "config.json") as tmp:
        tmp.write_text(dataclasses.replace(run, weights_sha256=sha).to_json())
    return folder


def read_trained_run(folder: str | Path, identifier: str | None = None) -> TrainedRun:
    """The checked config of a trained-model folder whose id is ``identifier`` (default: the folder's name).

    Raises :class:`TrainedModelError` naming the folder when ``model.pt`` or ``config.json`` is missing, the
    config is unreadable, its subject/beta give another id than ``identifier``, or it records no weights sha256.
    The weights' sha256 itself is checked when they are loaded (:func:`check_trained_weights`).
    """
    folder = Path(folder)
    identifier = identifier or folder.name
    run = _read_run(folder, identifier)
    if run.weights_sha256 is None:
        raise TrainedModelError(
            f"{folder / 'config.json'}: records no weights_sha256 (written before weights were checked), so "
            f"model.pt cannot be matched to subject {run.subject}, beta {run.beta:g}; if it is that run's file, "
            f"record it with model_registry.realnet.seal_trained({str(folder)!r}), else retrain")
    return run


def _read_run(folder: Path, identifier: str) -> TrainedRun:
    """The config of ``folder``, checked for both files, readability and id agreement (not the sha256)."""
    weights, config = folder / "model.pt", folder / "config.json"
    if not weights.is_file() or not config.is_file():
        present = [p.name for p in (weights, config) if p.is_file()]
        raise TrainedModelError(
            f"trained model folder {folder} ({identifier}) holds {' and '.join(present) or 'neither file'} but needs "
            "both model.pt and config.json; a trained model is never replaced by other weights: restore the missing "
            "file, retrain, or remove the folder")
    try:
        run = TrainedRun.from_json(config.read_text())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise TrainedModelError(f"{config}: unreadable config of {identifier} ({_one_line(error)}); "
                                "restore it, retrain, or remove the folder") from error
    expected = run.model_id
    if expected != identifier:
        raise TrainedModelError(
            f"trained model folder {folder}: its id {identifier} disagrees with its config.json (subject "
            f"{run.subject}, beta {run.beta:g}, "
            + ("" if run.config.is_cornet and run.config.modality == "eeg"
               else f"backbone {run.config.backbone}, modality {run.config.modality}, ")
            + f"whose id is {expected}); rename the folder to {expected}")
    return run


_HASHED: dict[tuple, str] = {}  # (path, device, inode, size, mtime_ns, ctime_ns) -> sha256, this process only


def _weights_sha256(path: Path) -> str:
    """sha256 of a weights file, hashed once per process while the file stays the same file: its inode, size,
    modification and status-change times (any write, replacement or touch changes one of them) are the key."""
    state = path.stat()
    key = (str(path.resolve()), state.st_dev, state.st_ino, state.st_size, state.st_mtime_ns, state.st_ctime_ns)
    if key not in _HASHED:
        if len(_HASHED) > 256:
            _HASHED.clear()
        _HASHED[key] = file_sha256(path)
    return _HASHED[key]


def check_trained_weights(folder: str | Path, run: TrainedRun) -> None:
    """Raise :class:`TrainedModelError` unless ``folder/model.pt``'s sha256 equals ``run.weights_sha256``."""
    weights = Path(folder) / "model.pt"
    actual = _weights_sha256(weights)
    if actual != run.weights_sha256:
        raise TrainedModelError(
            f"{weights}: sha256 {actual[:16]}... differs from {str(run.weights_sha256)[:16]}... recorded in its "
            f"config.json for {run.model_id} (subject {run.subject}, beta {run.beta:g}); the "
            "weights were replaced or damaged: restore them or retrain (equal weights saved again by torch.save to a "
            "path also change the sha256, as torch names the archive after the file; model_registry.realnet."
            "save_trained writes equal weights as equal bytes)")


def seal_trained(folder: str | Path) -> TrainedRun:
    """Record ``model.pt``'s sha256 in a trained-model folder's ``config.json`` written without one.

    Checks first that the folder name equals the config's id and that the weights load into the config's shape
    (raises :class:`TrainedModelError` / ``ValueError`` otherwise). Use it only for a ``model.pt`` known to be
    that run's weights. Returns the updated run.
    """
    folder = Path(folder)
    run = _read_run(folder, folder.name)
    if run.weights_sha256 is not None:
        check_trained_weights(folder, run)
        return run
    loaded_realnet(run.config, folder / "model.pt")  # the weights fit the config (raises otherwise)
    sealed = dataclasses.replace(run, weights_sha256=file_sha256(folder / "model.pt"))
    with atomic_path(folder / "config.json") as tmp:
        tmp.write_text(sealed.to_json())
    return sealed


def _local_folder(identifier: str) -> Path | None:
    """The model folder of ``identifier`` when one exists (complete or not: an incomplete one is an error later,
    never a reason to fall back to published weights)."""
    folder = models_dir() / identifier
    return folder if folder.is_dir() else None


def _local_backbone(folder: Path, run: TrainedRun, pretrained: bool) -> nn.Module:
    if not pretrained:
        return ReAlnet(run.config).realnet
    check_trained_weights(folder, run)
    return loaded_realnet(run.config, folder / "model.pt").realnet


def _published_backbone(subject: int, pretrained: bool) -> nn.Module:
    if not pretrained:
        return ReAlnet(ReAlnetConfig()).realnet
    # fetched by the one downloader, checked against the record's sha1
    return loaded_realnet(ReAlnetConfig(), PUBLISHED_WEIGHTS[subject].fetch()).realnet


def _spec(identifier: str, builder, preprocessing: Preprocessing, description: str, *, subject: int, beta: float,
          weights=None, trained: TrainedRunInfo | None = None, config: ReAlnetConfig | None = None) -> ModelSpec:
    common = {"identifier": identifier, "builder": builder, "family": "realnet", "preprocessing": preprocessing,
              "weights": weights, "num_params": None, "description": description, "subject": subject,
              "beta": float(beta), "trained": trained, "bibtex": catalog.REALNET_BIBTEX,
              "generation_module": _module_metadata(config) if config is not None else None}
    if config is not None and not config.is_cornet:  # scored as its backbone: the backbone's layers and regions
        from .registry import get_spec

        base = get_spec(config.backbone)
        return ModelSpec(**common, layers=base.layers, region_layer_map=dict(base.region_layer_map),
                         logits_layer=base.logits_layer, visual_degrees=base.visual_degrees,
                         layer_layouts=base.layer_layouts, recurrent_steps=dict(base.recurrent_steps),
                         behavioral_readout_layer=base.behavioral_readout_layer, backbone=config.backbone)
    return ModelSpec(**common, layers=CORNET_S_LAYERS, region_layer_map=CORNET_S_REGIONS,
                     logits_layer="decoder.linear", recurrent_steps=CORNET_S_STEPS)


def _module_metadata(config: ReAlnetConfig) -> dict:
    """What the brain-response generation module of ``config`` is, for the model's metadata."""
    return {"backbone": config.backbone, "modality": config.modality, "layers": list(config.layers),
            "layer_features": list(config.layer_features().values()), "hidden_per_layer": EEG_HIDDEN,
            "n_output": config.n_output, "reduce": config.reduce, "target_pca_voxels": config.target_inputs or None,
            "reduce_dim": config.reduce_dim if config.reduce != "none" else None,
            "reduce_seed": config.reduce_seed if config.reduce == "project" else None}


def resolve_realnet(identifier: str) -> ModelSpec:
    """Spec of ``realnet_sXX_bYY``: a local trained run first, else the published beta=100 weights (subjects 1-10).

    Raises :class:`TrainedModelError` for a local folder whose id, config and weights disagree or that is
    incomplete (see the module docstring), ``UnknownModelError`` when neither exists.
    """
    match = MODEL_ID.fullmatch(identifier)
    subject, beta = int(match["subject"]), float(match["beta"].replace("p", "."))
    paper_form = match["backbone"] is None and match["fmri"] is None
    folder = _local_folder(identifier)
    if folder is not None:
        run = read_trained_run(folder, identifier)
        return _spec(identifier, lambda pretrained: _local_backbone(folder, run, pretrained), run.preprocessing,
                     f"ReAlnet ({run.config.backbone}, {run.config.modality}) trained locally on subject "
                     f"{run.subject}, beta {run.beta:g} ({folder})", subject=run.subject, beta=run.beta,
                     trained=TrainedRunInfo(folder=folder, weights_sha256=run.weights_sha256, info=dict(run.info)),
                     config=run.config)
    if not paper_form:
        raise UnknownModelError(f"no ReAlnet {identifier!r}: nothing trained in {models_dir() / identifier}. Train "
                                f"it with `realnet train --subject {subject} --beta {beta:g}"
                                + (f" --backbone <id of {match['backbone']}>" if match["backbone"] else "")
                                + (" --modality fmri" if match["fmri"] else "") + "`.")
    if beta == 100 and subject in PUBLISHED_SHA1:
        record = PUBLISHED_WEIGHTS[subject]
        return _spec(identifier, lambda pretrained: _published_backbone(subject, pretrained), record.preprocessing,
                     f"ReAlnet (Lu et al.), published weights for THINGS-EEG2 subject {subject}, beta 100",
                     subject=subject, beta=beta, weights=record)
    raise UnknownModelError(f"no ReAlnet {identifier!r}: nothing trained in {models_dir() / identifier} and no "
                            f"published weights (those exist for beta=100, subjects 01-10). Train it with "
                            f"`realnet train --subject {subject} --beta {beta:g}`.")
