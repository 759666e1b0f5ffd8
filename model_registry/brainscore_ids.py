"""Which ids the installed ``brainscore_vision``'s own plugin folders register, read as text (no plugin imported,
no torch): used by the ``brainscore:<id>`` family to list ids and by the Brain-Score room
(``realnet_plugin.brainscore``) to leave Brain-Score's own ids to Brain-Score. Kept apart from
:mod:`model_registry.brainscore_models` (which needs torch to build models) so that listing and
``realnet_plugin.brainscore.install()`` stay cheap."""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path

PREFIX = "brainscore:"
_REGISTRATION = re.compile(r"""(?P<registry>\w+)_registry\s*\[\s*(?P<quote>['"])(?P<id>.+?)(?P=quote)\s*\]""")
_PLUGIN_REGISTRIES = {"models": "model", "benchmarks": "benchmark"}


def plugin_registrations(plugin_type: str, library_root: str | os.PathLike | None = None) -> dict[str, str]:
    """``{id: plugin folder}`` for the ``<type>_registry['<id>']`` lines of ``<library_root>/<type>/*/__init__.py``
    (``plugin_type`` ``'models'`` / ``'benchmarks'``), read as text as Brain-Score's own lookup greps them (nothing
    imported); folders in sorted order, the first registration of an id wins. ``library_root`` defaults to the
    installed ``brainscore_vision`` (empty when it is not installed); ``ValueError`` for another ``plugin_type``."""
    if plugin_type not in _PLUGIN_REGISTRIES:
        raise ValueError(f"plugin_type must be one of {sorted(_PLUGIN_REGISTRIES)}, got {plugin_type!r}")
    if library_root is None:
        spec = importlib.util.find_spec("brainscore_vision")
        if spec is None or spec.origin is None:
            return {}
        library_root = Path(spec.origin).parent
    found: dict[str, str] = {}
    for init in sorted((Path(library_root) / plugin_type).glob("*/__init__.py")):
        if init.parent.name.startswith((".", "_")):
            continue
        text = init.read_text(encoding="utf-8", errors="replace")
        for match in _REGISTRATION.finditer(text):
            if match["registry"] == _PLUGIN_REGISTRIES[plugin_type]:
                found.setdefault(match["id"], init.parent.name)
    return found


@functools.cache
def brainscore_plugin_ids(plugin_type: str) -> frozenset[str]:
    """Ids that the installed ``brainscore_vision``'s own plugin folders register for ``plugin_type``
    (``'models'`` / ``'benchmarks'``; see :func:`plugin_registrations`). Empty when brainscore_vision is not
    installed; ``ValueError`` for another ``plugin_type``."""
    return frozenset(plugin_registrations(plugin_type))


def brainscore_model_ids() -> list[str]:
    """``brainscore:<id>`` for every id a plugin folder of the installed ``brainscore_vision`` registers
    (``model_registry['<id>']`` in ``models/*/__init__.py``; a text scan, nothing imported)."""
    return [PREFIX + identifier for identifier in sorted(brainscore_plugin_ids("models"))]
