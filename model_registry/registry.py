"""The model registry: ids -> lazy builders with metadata, in the spirit of timm and Brain-Score.

Registering never builds a network, and listing never imports torch: static ids are declared as data in
:mod:`model_registry.catalog` with their builder named ``'module:function'`` (:class:`BuilderRef`, imported when
the model is built); open-ended families (``torchvision:<name>``, ``timm:<name>``, locally trained
``realnet_sXX_bYY``, ``brainscore:<id>``) come from :func:`register_family`, whose ``resolve`` / ``list_ids`` may
also be ``'module:function'`` names, imported when an id of the family is resolved or listed.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .layout import LayerLayout, as_layouts
from .preprocessing import Preprocessing
from .weights import WeightsRecord

if TYPE_CHECKING:
    import torch

BRAIN_REGIONS = ("V1", "V2", "V4", "IT")


class UnknownModelError(KeyError):
    """An id that no registration or family resolves; the message names close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def resolve_ref(ref: str) -> Any:
    """The object named ``'package.module:attribute'`` (imported now). Raises ``ValueError`` for a malformed
    name, ``ImportError`` / ``AttributeError`` naming it when it does not exist."""
    module, _, attribute = ref.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'package.module:function', got {ref!r}")
    target = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class BuilderRef:
    """A builder named by ``'module:function'``: ``BuilderRef(name)(pretrained)`` imports the module on first
    call and returns ``function(pretrained)``. Declaring one imports nothing (the timm/torchvision registries
    import every model module to list; ours does not)."""

    ref: str

    def __call__(self, pretrained: bool = True) -> torch.nn.Module:
        return resolve_ref(self.ref)(pretrained)


@dataclass(frozen=True)
class TrainedRunInfo:
    """A ReAlnet trained on this machine: its ``folder`` (``$REALNET_HOME/models/<id>``), the sha256 of its
    ``model.pt`` recorded at training (checked when loaded) and the trainer's ``info`` (free-form)."""

    folder: Path
    weights_sha256: str
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about a registered model before it is built.

    ``builder(pretrained: bool) -> torch.nn.Module`` builds the network (a :class:`BuilderRef` for declared
    models); ``layers`` are the default layers benchmarks read (module names; ``name-tK`` selects call K of a
    module called several times); ``region_layer_map`` commits brain regions to layers. ``layer_layouts`` declares,
    per module name, how to read an output that is not one batch-first tensor (``{'encoder.layers.0': 'LND'}`` or a
    :class:`~model_registry.layout.LayerLayout` with ``item=`` for tuple/dict outputs); see ``layout.py``.

    Typed metadata (no free-form dict):

    - ``weights``: the :class:`~model_registry.weights.WeightsRecord` of the published weights (``None``: random
      initialisation only, a locally trained run, or a wrapped module); ``weights_url`` / ``weights_sha256`` read it.
    - ``bibtex``: the citation of the model (one ``@``-entry; written into generated Brain-Score plugins).
    - ``recurrent_steps``: ``{module name: calls per forward}`` of modules run once per recurrent step
      (CORnet-S ``{'V4.output': 4, ...}``), read by the extractor's time-step layers and cross-temporal RSA.
    - ``subject``, ``beta``: a ReAlnet's THINGS-EEG2 subject and loss weight; ``backbone``: the registry id a
      ReAlnet was trained on (``None``: CORnet-S, or not a ReAlnet); ``trained``: a run trained here
      (:class:`TrainedRunInfo`); ``generation_module``: what its brain-response generation module is (keys
      ``backbone, modality, layers, layer_features, hidden_per_layer, n_output, reduce, reduce_dim, reduce_seed,
      target_pca_voxels``).
    - ``behavioral_readout_layer``: the layer Brain-Score's behavioural read-outs use (``None``: the layer feeding
      ``logits_layer``); ``brainscore_layers``: a Brain-Score plugin's candidate layers (``brainscore:<id>``).
    """

    identifier: str
    builder: Callable[[bool], torch.nn.Module]
    family: str
    layers: tuple[str, ...]
    region_layer_map: dict[str, str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    weights: WeightsRecord | None = None
    num_params: int | None = None
    visual_degrees: float = 8.0
    logits_layer: str | None = None
    description: str = ""
    bibtex: str = ""
    recurrent_steps: Mapping[str, int] = field(default_factory=dict)
    subject: int | None = None
    beta: float | None = None
    backbone: str | None = None
    trained: TrainedRunInfo | None = None
    generation_module: Mapping[str, Any] | None = None
    behavioral_readout_layer: str | None = None
    brainscore_layers: tuple[str, ...] = ()
    layer_layouts: Mapping[str, LayerLayout] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "layer_layouts", as_layouts(self.layer_layouts))  # 'LND' -> LayerLayout('LND')
        if self.weights is not None and not isinstance(self.weights, WeightsRecord):
            raise TypeError(f"model {self.identifier}: weights must be a WeightsRecord, got "
                            f"{type(self.weights).__name__}")

    @property
    def weights_url(self) -> str | None:
        """URL of the published weights (``weights.url``), ``None`` when there are none."""
        return self.weights.url if self.weights is not None else None

    @property
    def weights_sha256(self) -> str | None:
        """Full sha256 of the published weights file when its record has one (else ``None``)."""
        return self.weights.sha256 if self.weights is not None else None

    def build(self, pretrained: bool = True) -> torch.nn.Module:
        """Build the network in eval mode, with published weights when ``pretrained``."""
        network = self.builder(pretrained)
        return network.eval()


@dataclass(frozen=True)
class Family:
    """An open-ended set of ids: ``pattern.fullmatch(id)`` says whether ``resolve(id) -> ModelSpec`` applies.

    ``resolve`` and ``list_ids`` are callables or ``'module:function'`` names imported on first use."""

    name: str
    pattern: re.Pattern
    resolve: Callable[[str], ModelSpec] | str
    list_ids: Callable[[], Iterable[str]] | str = lambda: ()
    example: str = ""
    prefix: str | None = None  # when set, ids are listed only for patterns starting with it

    def resolve_id(self, identifier: str) -> ModelSpec:
        """The spec of ``identifier`` (imports the family's module when ``resolve`` is a name)."""
        resolve = resolve_ref(self.resolve) if isinstance(self.resolve, str) else self.resolve
        return resolve(identifier)

    def listed_ids(self) -> Iterable[str]:
        """The ids the family can enumerate now."""
        list_ids = resolve_ref(self.list_ids) if isinstance(self.list_ids, str) else self.list_ids
        return list_ids()


_SPECS: dict[str, Callable[[], ModelSpec]] = {}
_FAMILIES: list[Family] = []
_LISTENERS: list[Callable[[str], None]] = []


def register_spec(identifier: str, make_spec: Callable[[], ModelSpec]) -> None:
    """Register a zero-argument factory of a :class:`ModelSpec` under ``identifier``."""
    if identifier in _SPECS:
        raise ValueError(f"model id {identifier!r} is registered twice")
    _SPECS[identifier] = make_spec
    for listener in _LISTENERS:
        listener(identifier)


def register_model(identifier: str, builder: Callable[[bool], torch.nn.Module] | str | None = None,
                   **meta) -> Callable:
    """Register a model: ``register_model(id, 'module:function', **meta)`` declares it without importing the
    builder's module (a :class:`BuilderRef`); ``@register_model(id, **meta)`` decorates a builder
    ``fn(pretrained: bool) -> nn.Module``.

    ``meta`` holds the :class:`ModelSpec` fields (``family``, ``layers``, ``region_layer_map``, ``weights``, ...);
    the spec is made when the id is first looked up. Raises ``ValueError`` for an id registered twice.
    """
    if builder is not None:
        target = BuilderRef(builder) if isinstance(builder, str) else builder
        register_spec(identifier, lambda: ModelSpec(identifier=identifier, builder=target, **meta))
        return target

    def decorate(builder: Callable[[bool], torch.nn.Module]) -> Callable[[bool], torch.nn.Module]:
        register_spec(identifier, lambda: ModelSpec(identifier=identifier, builder=builder, **meta))
        return builder

    return decorate


def register_family(name: str, pattern: str, resolve: Callable[[str], ModelSpec] | str,
                    list_ids: Callable[[], Iterable[str]] | str = lambda: (), example: str = "",
                    prefix: str | None = None) -> None:
    """Register an open-ended family of ids matching the regular expression ``pattern``.

    ``resolve(id) -> ModelSpec`` makes a spec; ``list_ids()`` names the ids the family can enumerate; either may be
    a ``'module:function'`` name, imported only when the family is asked. With ``prefix`` set (``'timm:'``) ids
    are listed only for patterns that name it.
    """
    _FAMILIES.append(Family(name, re.compile(pattern), resolve, list_ids, example, prefix))


def on_register(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call ``listener(identifier)`` for every id registered with :func:`register_spec` / :func:`register_model`,
    now and in future (family ids are not announced; see :func:`list_models`). Returns a function that stops the
    calls (used by ``realnet_plugin.brainscore.install`` / ``uninstall``)."""
    _LISTENERS.append(listener)
    for identifier in list(_SPECS):
        listener(identifier)

    def stop() -> None:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)

    return stop


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def list_models(pattern: str = "*", exclude: str | None = None) -> list[str]:
    """Registered ids matching the shell wildcard ``pattern`` (comma-separated for several), naturally sorted.

    Families contribute the ids they can list (locally trained ReAlnets; ``timm:*``, ``torchvision:*`` and
    ``brainscore:*`` only when the pattern names that prefix, ``'torch*'`` included, since they hold thousands of
    ids; see :func:`family_prefixes`).
    """
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    candidates = set(_SPECS)
    for family in _FAMILIES:
        if family.prefix is None or any(_names_prefix(p, family.prefix) for p in patterns):
            candidates.update(family.listed_ids())
    chosen = {c for c in candidates if any(fnmatch.fnmatchcase(c, p) for p in patterns)}
    if exclude:
        chosen = {c for c in chosen if not fnmatch.fnmatchcase(c, exclude)}
    return sorted(chosen, key=_natural_key)


def _names_prefix(pattern: str, prefix: str) -> bool:
    """Whether ``pattern`` names the family ``prefix``: it starts with it (``'timm:res*'``), or its literal head
    before the first wildcard is a non-empty start of it (``'torch*'`` names ``'torchvision:'``)."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return pattern.startswith(prefix) or (bool(head) and prefix.startswith(head))


def family_prefixes() -> list[str]:
    """The prefixes of the families listed only when a pattern names them (``'timm:'``, ``'torchvision:'``, ...)."""
    return sorted(f.prefix for f in _FAMILIES if f.prefix)


def is_model(identifier: str) -> bool:
    """Whether ``identifier`` resolves to a model (registered or in a family)."""
    return identifier in _SPECS or any(f.pattern.fullmatch(identifier) for f in _FAMILIES)


def get_spec(identifier: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``identifier``; raises :class:`UnknownModelError` naming close matches."""
    if identifier in _SPECS:
        return _SPECS[identifier]()
    for family in _FAMILIES:
        if family.pattern.fullmatch(identifier):
            return family.resolve_id(identifier)
    known = list_models()
    close = difflib.get_close_matches(identifier, known, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    families = ", ".join(f.example for f in _FAMILIES if f.example)
    raise UnknownModelError(f"unknown model id {identifier!r}.{hint} Known ids: {len(known)} "
                            f"(see list_models()); open families: {families}.")


def build_network(identifier: str, pretrained: bool = True) -> torch.nn.Module:
    """The bare ``torch.nn.Module`` of a registered model, in eval mode."""
    return get_spec(identifier).build(pretrained)
