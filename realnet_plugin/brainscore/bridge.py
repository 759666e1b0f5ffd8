"""Make our registrations reachable through ``brainscore_vision`` itself, without changing anything else in it.

Brain-Score finds plugins by grepping ``<site-packages>/brainscore_vision/<type>/*/__init__.py`` for
``<type>_registry['<id>']``, so ids registered by an external package end in "No registrations found". This
module does two things:

- :func:`expose` puts a zero-argument factory for each of our ids into Brain-Score's registry dict
  (``brainscore_vision.model_registry`` / ``benchmark_registry``) as soon as the id is registered with us, so
  listing those dicts shows our ids (locally trained ``realnet_sXX_bYY`` runs found at import included).
- It wraps ``brainscore_vision.import_plugin`` (the name ``load_model`` / ``load_benchmark`` call) so that a lookup
  of an id only one of our resolvers knows (a run trained after the import, ``timm:<name>``...) is answered by us,
  skipping the grep and the pip install Brain-Score would run for a plugin folder.

What stays exactly Brain-Score's: every plugin type other than models and benchmarks (metrics, data, stimulus
sets, ceilings) and every call with another library root or a registry prefix goes to the original function
untouched, with the same arguments. An id that a Brain-Score plugin folder registers always resolves to
Brain-Score's plugin: we never expose such an id and never answer its lookup.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import brainscore_vision

Factory = Callable[[], object]
Resolver = Callable[[str], Factory | None]
REGISTRIES = {"models": "model_registry", "benchmarks": "benchmark_registry"}
_RESOLVERS: dict[str, list[Resolver]] = {plugin_type: [] for plugin_type in REGISTRIES}
_OURS: dict[str, set[str]] = {plugin_type: set() for plugin_type in REGISTRIES}
_REGISTRATION = re.compile(r"""(?P<registry>\w+)_registry\s*\[\s*(?P<quote>['"])(?P<id>.+?)(?P=quote)\s*\]""")
logger = logging.getLogger(__name__)


def _check_type(plugin_type: str) -> None:
    if plugin_type not in REGISTRIES:
        raise ValueError(f"plugin_type must be one of {sorted(REGISTRIES)}, got {plugin_type!r}")


def add_resolver(plugin_type: str, resolver: Resolver, list_ids: Callable[[], Iterable[str]] | None = None) -> None:
    """Let ``resolver(id) -> factory | None`` answer Brain-Score lookups of ``plugin_type`` (models/benchmarks).

    ``list_ids()``, when given, names ids to expose in Brain-Score's registry now (each as a lazy factory that
    asks ``resolver`` when called, so nothing is built or read at import). Raises ``ValueError`` for an unknown
    ``plugin_type``.
    """
    _check_type(plugin_type)
    _install()
    _RESOLVERS[plugin_type].append(resolver)
    for identifier in list_ids() if list_ids is not None else ():
        expose(plugin_type, identifier, functools.partial(_resolved_factory, resolver, identifier))


def _resolved_factory(resolver: Resolver, identifier: str) -> object:
    factory = resolver(identifier)
    if factory is None:
        raise KeyError(f"{identifier!r} was listed at import but no longer resolves (its folder was removed?)")
    return factory()


def expose(plugin_type: str, identifier: str, factory: Factory) -> bool:
    """Put ``factory`` into Brain-Score's registry for ``plugin_type`` under ``identifier``.

    Returns ``False`` (and changes nothing) when a Brain-Score plugin folder registers the same id or the
    registry already holds it: Brain-Score's own plugins keep their ids.
    """
    _check_type(plugin_type)
    _install()
    registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
    if identifier in _brainscore_ids(plugin_type):
        logger.info("%s id %r belongs to a Brain-Score plugin; not exposed through brainscore_vision",
                    plugin_type, identifier)
        return False
    if identifier in registry:
        return False
    registry[identifier] = factory
    _OURS[plugin_type].add(identifier)
    return True


@functools.cache
def _brainscore_ids(plugin_type: str) -> frozenset[str]:
    """Ids that Brain-Score's own plugin folders register for ``plugin_type`` (the lines its grep would find)."""
    registry_name = REGISTRIES[plugin_type].removesuffix("_registry")
    ids = set()
    for init in (Path(brainscore_vision.__file__).parent / plugin_type).glob("*/__init__.py"):
        if init.parent.name.startswith((".", "_")):
            continue
        text = init.read_text(encoding="utf-8", errors="replace")
        ids.update(m["id"] for m in _REGISTRATION.finditer(text) if m["registry"] == registry_name)
    return frozenset(ids)


def _resolve(plugin_type: str, identifier: str) -> bool:
    """Whether ``identifier`` is ours; puts its factory into Brain-Score's registry when it is."""
    if identifier in _brainscore_ids(plugin_type):
        return False
    registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
    if identifier in _OURS[plugin_type] and identifier in registry:
        return True
    for resolver in _RESOLVERS[plugin_type]:
        factory = resolver(identifier)
        if factory is not None:
            registry[identifier] = factory
            _OURS[plugin_type].add(identifier)
            return True
    return False


def _install() -> None:
    original = brainscore_vision.import_plugin
    if getattr(original, "_realnet_bridge", False):
        return

    @functools.wraps(original)
    def import_plugin(library_root: str, plugin_type: str, identifier: str, registry_prefix: str | None = None):
        if (library_root == "brainscore_vision" and plugin_type in REGISTRIES and registry_prefix is None
                and _resolve(plugin_type, identifier)):
            return None
        return original(library_root, plugin_type, identifier, registry_prefix=registry_prefix)

    import_plugin._realnet_bridge = True
    import_plugin._realnet_original = original
    brainscore_vision.import_plugin = import_plugin
