"""Make our registrations reachable through ``brainscore_vision`` itself.

Brain-Score finds plugins by grepping ``<site-packages>/brainscore_vision/<type>/*/__init__.py`` for
``<type>_registry['<id>']``, so ids registered by an external package end in "No registrations found". This
module wraps ``brainscore_vision.import_plugin`` (the name its ``load_model``/``load_benchmark`` call): for an id one
of our resolvers knows, it puts a zero-argument factory into Brain-Score's registry dict and skips the grep (and
the pip install Brain-Score would run for a plugin folder). Every other id takes Brain-Score's own path.
"""
from __future__ import annotations

from collections.abc import Callable

import brainscore_vision

Factory = Callable[[], object]
Resolver = Callable[[str], Factory | None]
REGISTRIES = {"models": "model_registry", "benchmarks": "benchmark_registry"}
_RESOLVERS: dict[str, list[Resolver]] = {plugin_type: [] for plugin_type in REGISTRIES}


def add_resolver(plugin_type: str, resolver: Resolver) -> None:
    """Let ``resolver(id) -> factory | None`` answer Brain-Score lookups of ``plugin_type`` (models/benchmarks)."""
    if plugin_type not in REGISTRIES:
        raise ValueError(f"plugin_type must be one of {sorted(REGISTRIES)}, got {plugin_type!r}")
    _install()
    _RESOLVERS[plugin_type].append(resolver)


def expose(plugin_type: str, identifier: str, factory: Factory) -> None:
    """Put ``factory`` into Brain-Score's registry for ``plugin_type`` under ``identifier``."""
    getattr(brainscore_vision, REGISTRIES[plugin_type]).setdefault(identifier, factory)


def _resolve(plugin_type: str, identifier: str) -> bool:
    registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
    if identifier in registry:  # registered already (by us, or by a Brain-Score plugin folder): keep it
        return True
    for resolver in _RESOLVERS.get(plugin_type, ()):
        factory = resolver(identifier)
        if factory is not None:
            registry[identifier] = factory
            return True
    return False


def _install() -> None:
    original = brainscore_vision.import_plugin
    if getattr(original, "_realnet_bridge", False):
        return

    def import_plugin(library_root: str, plugin_type: str, identifier: str, registry_prefix: str | None = None):
        if library_root == "brainscore_vision" and registry_prefix is None and _resolve(plugin_type, identifier):
            return None
        return original(library_root, plugin_type, identifier, registry_prefix=registry_prefix)

    import_plugin._realnet_bridge = True
    brainscore_vision.import_plugin = import_plugin
