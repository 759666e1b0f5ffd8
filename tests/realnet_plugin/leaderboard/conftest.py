"""Makes the tiny test plugin importable here and in worker processes (spawned pools, Dask workers)."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
PLUGIN = "leaderboard_test_plugin"


@pytest.fixture(scope="session")
def test_plugin():
    """The imported test plugin module; its folder is on sys.path and PYTHONPATH for child processes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(HERE)
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
        yield importlib.import_module(PLUGIN)  # its registrations stay: the registries are process-wide
