"""Make our registrations reachable through ``brainscore_vision`` itself, by an explicit :func:`install`, without
changing anything else in it; :func:`uninstall` puts ``brainscore_vision`` back exactly as it was.

Brain-Score finds plugins by grepping ``<site-packages>/brainscore_vision/<type>/*/__init__.py`` for
``<type>_registry['<id>']``, so ids registered by an external package end in "No registrations found".
:func:`install` (called by ``import realnet_plugin``; never by ``import model_registry`` or ``import benchmarks``)
does two things:

- It puts a zero-argument factory for each of our ids into Brain-Score's registry dicts
  (``brainscore_vision.model_registry`` / ``benchmark_registry``): every id known at install (static models, the
  locally trained ``realnet_sXX_bYY`` runs found on disk, every benchmark id and the listed members of benchmark
  families), and every id registered with us later (listeners on both registries). Listing those dicts shows our
  ids; nothing is built or read until a factory is called.
- It wraps ``brainscore_vision.import_plugin`` (the name ``load_model`` / ``load_benchmark`` call) so that a lookup
  of an id only one of our families knows (a run trained after the install, ``timm:<name>``,
  ``torchvision:<name>``, ``things-fmri-roi.<ROI>`` ...) is answered by us, skipping the grep and the pip install
  Brain-Score would run for a plugin folder.

What stays exactly Brain-Score's: every plugin type other than models and benchmarks (metrics, data, stimulus
sets, ceilings) and every call with another library root or a registry prefix goes to the original function
untouched, with the same arguments. An id that a Brain-Score plugin folder registers always resolves to
Brain-Score's plugin: we never expose such an id and never answer its lookup.

:func:`install` is idempotent (a second call changes nothing). :func:`uninstall` removes every registry entry we
put that still holds our factory, stops the listeners and restores the original ``import_plugin`` object.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import brainscore_vision

Factory = Callable[[], object]
REGISTRIES = {"models": "model_registry", "benchmarks": "benchmark_registry"}
logger = logging.getLogger(__name__)


@dataclass
class _Installation:
    """What :func:`install` changed, so that :func:`uninstall` can undo exactly that."""

    original: Callable  # brainscore_vision.import_plugin before install()
    wrapper: Callable  # the function install() put in its place
    entries: dict[str, dict[str, Factory]] = field(default_factory=lambda: {t: {} for t in REGISTRIES})
    unsubscribe: list[Callable[[], None]] = field(default_factory=list)


_LOCK = threading.RLock()
_INSTALLATION: _Installation | None = None


def is_installed() -> bool:
    """Whether :func:`install` is in effect (and :func:`uninstall` has not undone it)."""
    return _INSTALLATION is not None


def install() -> None:
    """Register our model and benchmark ids in ``brainscore_vision``'s registries and wrap
    ``brainscore_vision.import_plugin`` so that ``brainscore_vision.load_model`` / ``load_benchmark`` / ``score``
    find them (see the module docstring). Imports :mod:`model_registry` and :mod:`benchmarks` (registering their
    ids). Idempotent. On any error nothing stays changed (the partial installation is undone) and the error is
    raised."""
    global _INSTALLATION
    with _LOCK:
        if _INSTALLATION is not None:
            return
        import benchmarks  # noqa: F401 (registers every benchmark id)
        import model_registry
        from benchmarks import registry as benchmark_registry
        from model_registry.registry import on_register as on_model_registered

        original = brainscore_vision.import_plugin
        state = _Installation(original=original, wrapper=_wrap(original))
        _INSTALLATION = state
        try:
            brainscore_vision.import_plugin = state.wrapper
            state.unsubscribe.append(on_model_registered(functools.partial(_expose, "models")))
            for identifier in model_registry.list_models():  # family ids listable now: trained runs on disk
                _expose("models", identifier)
            state.unsubscribe.append(benchmark_registry.on_register(functools.partial(_expose, "benchmarks")))
        except BaseException:
            _undo(state)
            raise


def uninstall() -> None:
    """Undo :func:`install`: remove each registry entry it put (where the entry still holds our factory), stop
    listening to our registries and put the original ``brainscore_vision.import_plugin`` back. A no-op when not
    installed. Raises ``RuntimeError`` (changing nothing) when ``brainscore_vision.import_plugin`` was replaced by
    someone else after :func:`install`: restoring ours would drop their replacement."""
    with _LOCK:
        state = _INSTALLATION
        if state is None:
            return
        current = brainscore_vision.import_plugin
        if current is not state.wrapper:
            name = f"{getattr(current, '__module__', '?')}.{getattr(current, '__qualname__', '?')}"
            raise RuntimeError("brainscore_vision.import_plugin was replaced after realnet_plugin.brainscore.install() "
                               f"(now {name}); undo that replacement before uninstall()")
        _undo(state)


def _undo(state: _Installation) -> None:
    global _INSTALLATION
    for unsubscribe in state.unsubscribe:
        unsubscribe()
    for plugin_type, entries in state.entries.items():
        registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
        for identifier, factory in entries.items():
            if registry.get(identifier) is factory:
                del registry[identifier]
    if brainscore_vision.import_plugin is state.wrapper:
        brainscore_vision.import_plugin = state.original
    _INSTALLATION = None


def _build(plugin_type: str, identifier: str) -> object:
    """What Brain-Score gets for one of our ids: the model (a ``BrainModel``) or the benchmark, built now."""
    if plugin_type == "models":
        from model_registry import load_model

        return load_model(identifier)
    from benchmarks.registry import load_benchmark

    return load_benchmark(identifier)


def _ours(plugin_type: str, identifier: str) -> bool:
    """Whether ``identifier`` names one of our models / benchmarks (registered, or in a family); a family id that
    matches the family's pattern but cannot be resolved raises its error here, at lookup, not at scoring."""
    if plugin_type == "models":
        from model_registry import get_spec, is_model

        if not is_model(identifier):
            return False
        get_spec(identifier)
        return True
    from benchmarks.registry import benchmark_factory

    return benchmark_factory(identifier) is not None


def _expose(plugin_type: str, identifier: str) -> bool:
    """Put a factory of our ``identifier`` into Brain-Score's registry for ``plugin_type``.

    Returns ``False`` (and changes nothing) when not installed, when a Brain-Score plugin folder registers the same
    id, or when the registry already holds it: Brain-Score's own plugins keep their ids."""
    from model_registry.brainscore_ids import brainscore_plugin_ids

    with _LOCK:
        state = _INSTALLATION
        if state is None:
            return False
        registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
        if identifier in brainscore_plugin_ids(plugin_type):
            logger.info("%s id %r belongs to a Brain-Score plugin; not exposed through brainscore_vision",
                        plugin_type, identifier)
            return False
        if identifier in registry:
            return False
        factory = functools.partial(_build, plugin_type, identifier)
        registry[identifier] = factory
        state.entries[plugin_type][identifier] = factory
        return True


def _resolve(plugin_type: str, identifier: str) -> bool:
    """Whether a Brain-Score lookup of ``identifier`` is ours to answer; puts its factory into Brain-Score's
    registry when it is."""
    from model_registry.brainscore_ids import brainscore_plugin_ids

    with _LOCK:
        state = _INSTALLATION
        if state is None or identifier in brainscore_plugin_ids(plugin_type):
            return False
        registry = getattr(brainscore_vision, REGISTRIES[plugin_type])
        if identifier in state.entries[plugin_type] and registry.get(identifier) is state.entries[plugin_type][
                identifier]:
            return True
        if not _ours(plugin_type, identifier):
            return False
        if identifier in registry:  # someone else put a factory under this id: theirs answers
            return True
        return _expose(plugin_type, identifier)


def _wrap(original: Callable) -> Callable:
    @functools.wraps(original)
    def import_plugin(library_root: str, plugin_type: str, identifier: str, registry_prefix: str | None = None):
        if (library_root == "brainscore_vision" and plugin_type in REGISTRIES and registry_prefix is None
                and _resolve(plugin_type, identifier)):
            return None
        return original(library_root, plugin_type, identifier, registry_prefix=registry_prefix)

    import_plugin._realnet_bridge = True
    return import_plugin
