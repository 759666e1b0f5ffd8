"""Refuse to run when a user's own top-level ``benchmarks`` or ``model_registry`` package shadows ours.

realnet-plugin installs three top-level packages: ``realnet_plugin``, ``benchmarks`` and ``model_registry``. Python
puts the current folder (or the script's folder) first on ``sys.path``, so a project with its own ``benchmarks/``
package would be imported in place of ours: ``import realnet_plugin`` would then fail deep inside, or, worse, list
no benchmark and score nothing. :func:`check_packages` runs first in ``realnet_plugin/__init__.py`` and raises one
``ImportError`` line naming the folder that shadows ours.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SIBLINGS = ("benchmarks", "model_registry")


def _origin(name: str) -> Path | None:
    module = sys.modules.get(name)
    if module is not None:
        location = getattr(module, "__file__", None)
        return Path(location).resolve().parent if location else None
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
        return Path(spec.origin).resolve().parent
    locations = list(spec.submodule_search_locations or ())
    return Path(locations[0]).resolve() if locations else None


def check_packages(root: Path | None = None) -> None:
    """``ImportError`` (one line) unless ``benchmarks`` and ``model_registry`` resolve to the packages installed
    beside ``realnet_plugin`` (``root``: the folder holding all three; default: this package's parent)."""
    root = (root or Path(__file__).resolve().parent.parent).resolve()
    for name in SIBLINGS:
        expected = root / name
        found = _origin(name)
        if found != expected:
            where = "nowhere" if found is None else str(found)
            raise ImportError(f"realnet-plugin: the package {name!r} resolves to {where}, not to realnet-plugin's "
                              f"{expected}; a folder of yours named {name}/ (current folder or script folder, first "
                              "on sys.path) shadows it: rename it, or run from another folder")
