"""The model registry: ids -> lazy builders with metadata, in the spirit of timm and Brain-Score.

Registering never builds a network. Static ids come from :func:`register_model`; open-ended families
(``torchvision:<name>``, ``timm:<name>``, locally trained ``realnet_sXX_bYY``) come from resolvers added with
:func:`register_family`.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .layout import LayerLayout, as_layouts
from .preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch

BRAIN_REGIONS = ("V1", "V2", "V4", "IT")


class UnknownModelError(KeyError):
    """An id that no registration or family resolves; the message names close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about a registered model before it is built.

    ``builder(pretrained: bool) -> torch.nn.Module`` builds the network; ``layers`` are the default layers
    benchmarks read (module names; ``name-tK`` selects call K of a module called several times);
    ``region_layer_map`` commits brain regions to layers. ``layer_layouts`` declares, per module name, how to read
    an output that is not one batch-first tensor (``{'encoder.layers.0': 'LND'}`` or a
    :class:`~model_registry.layout.LayerLayout` with ``item=`` for tuple/dict outputs); see ``layout.py``.
    """

    identifier: str
    builder: Callable[[bool], torch.nn.Module]
    family: str
    layers: tuple[str, ...]
    region_layer_map: dict[str, str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    weights_url: str | None = None
    weights_sha256: str | None = None
    num_params: int | None = None
    visual_degrees: float = 8.0
    logits_layer: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)
    layer_layouts: Mapping[str, LayerLayout] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "layer_layouts", as_layouts(self.layer_layouts))  # 'LND' -> LayerLayout('LND')

    def build(self, pretrained: bool = True) -> torch.nn.Module:
        """Build the network in eval mode, with published weights when ``pretrained``."""
        network = self.builder(pretrained)
        return network.eval()


@dataclass(frozen=True)
class Family:
    """An open-ended set of ids: ``matches(id)`` says whether ``resolve(id) -> ModelSpec`` applies."""

    name: str
    pattern: re.Pattern
    resolve: Callable[[str], ModelSpec]
    list_ids: Callable[[], Iterable[str]] = lambda: ()
    example: str = ""
    prefix: str | None = None  # when set, ids are listed only for patterns starting with it


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


def register_model(identifier: str, **meta) -> Callable:
    """Decorator registering a builder ``fn(pretrained: bool) -> nn.Module`` under ``identifier``.

    ``meta`` holds the :class:`ModelSpec` fields (``family``, ``layers``, ``region_layer_map``, ...).
    """

    def decorate(builder: Callable[[bool], torch.nn.Module]) -> Callable[[bool], torch.nn.Module]:
        register_spec(identifier, lambda: ModelSpec(identifier=identifier, builder=builder, **meta))
        return builder

    return decorate


def register_family(name: str, pattern: str, resolve: Callable[[str], ModelSpec],
                    list_ids: Callable[[], Iterable[str]] = lambda: (), example: str = "",
                    prefix: str | None = None) -> None:
    """Register an open-ended family of ids matching the regular expression ``pattern``.

    ``list_ids`` names the ids the family can enumerate; with ``prefix`` set (``'timm:'``) they are listed only
    for patterns that start with it.
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
            candidates.update(family.list_ids())
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
            return family.resolve(identifier)
    known = list_models()
    close = difflib.get_close_matches(identifier, known, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    families = ", ".join(f.example for f in _FAMILIES if f.example)
    raise UnknownModelError(f"unknown model id {identifier!r}.{hint} Known ids: {len(known)} "
                            f"(see list_models()); open families: {families}.")


def build_network(identifier: str, pretrained: bool = True) -> torch.nn.Module:
    """The bare ``torch.nn.Module`` of a registered model, in eval mode."""
    return get_spec(identifier).build(pretrained)
