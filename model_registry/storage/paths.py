"""Where realnet-plugin keeps weights, caches, trained models and datasets.

``REALNET_HOME`` (default ``~/.realnet``) holds ``weights/``, ``cache/`` and ``models/``;
``REALNET_DATA_DIR`` (default ``$REALNET_HOME/data``) holds one folder per dataset in its official layout.
"""
from __future__ import annotations

import os
from pathlib import Path


def realnet_home() -> Path:
    """Root folder for weights, caches and trained models (``$REALNET_HOME``, default ``~/.realnet``)."""
    return Path(os.environ.get("REALNET_HOME") or Path.home() / ".realnet").expanduser()


def data_dir(dataset: str | None = None) -> Path:
    """Dataset root (``$REALNET_DATA_DIR``, default ``$REALNET_HOME/data``), or one dataset's folder in it."""
    root = Path(os.environ.get("REALNET_DATA_DIR") or realnet_home() / "data").expanduser()
    return root / dataset if dataset else root


def weights_dir() -> Path:
    """Folder of downloaded weight files."""
    return realnet_home() / "weights"


def cache_dir(kind: str) -> Path:
    """Folder for one kind of cache (e.g. ``activations``, ``rdms``)."""
    return realnet_home() / "cache" / kind


def models_dir() -> Path:
    """Folder of locally trained models, one sub-folder per model id."""
    return realnet_home() / "models"
