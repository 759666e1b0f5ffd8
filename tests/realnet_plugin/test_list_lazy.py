"""``realnet list models|benchmarks`` imports neither torch nor brainscore_vision nor xarray (issue 14 section 4,
issue 13 section 2), and still lists exactly what the full Python API lists in another fresh interpreter (which
imports everything). Trained runs are found on disk without torch; ``timm:*`` imports timm only when asked.

Which modules a command loads is read from the interpreter's own ``-X importtime`` report."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REALNET = Path(sys.executable).with_name("realnet")
HEAVY = {"torch", "brainscore_vision", "brainscore_core", "xarray", "timm", "torchvision", "open_clip", "PIL"}
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def _cli(args: list[str], home: Path) -> tuple[list[str], set[str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", str(REALNET), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "REALNET_HOME": str(home)})
    stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    assert done.returncode == 0 and stderr == "", stderr[-2000:]
    return done.stdout.split(), set(IMPORTED.findall(done.stderr))


def _api(code: str, home: Path) -> list[str]:
    """The full API's listing in a fresh interpreter: ``import realnet_plugin`` imports every registry and the
    Brain-Score bridge; every benchmark package is imported too."""
    done = subprocess.run([sys.executable, "-c", "import realnet_plugin, benchmarks.registry as b; b.import_all(); "
                           + code], capture_output=True, text=True, timeout=300, env={**os.environ,
                                                                                       "REALNET_HOME": str(home)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.fixture()
def home_with_runs(realnet_home):
    """Two trained-run folders (not loadable: listing must not read them) and a folder that is no ReAlnet id."""
    for name in ("realnet_s05_b10", "realnet_torchvision-resnet18_s02_b1", "not_a_model"):
        (realnet_home / "models" / name).mkdir(parents=True)
    return realnet_home


@pytest.mark.parametrize("what", ["models", "benchmarks"])
def test_list_imports_nothing_heavy_and_equals_the_api(what, home_with_runs):
    listed, modules = _cli(["list", what], home_with_runs)
    assert not modules & HEAVY, sorted(modules & HEAVY)
    assert "realnet_plugin.cli" in modules  # the report is real
    expected = _api(f"print(*realnet_plugin.list_{what}(), sep=chr(10))", home_with_runs)
    assert listed == expected
    if what == "models":
        assert {"cornet_s", "resnet101", "realnet_s10_b100", "realnet_s05_b10",
                "realnet_torchvision-resnet18_s02_b1"} <= set(listed)
        assert "not_a_model" not in listed
    else:
        assert {"kriegeskorte2008-hit-rsa", "things-eeg-rsa-decoding-svm", "shen2019-fmri-roi.HVC"} <= set(listed)


def test_a_family_prefix_imports_its_library_only(realnet_home):
    listed, modules = _cli(["list", "models", "timm:resnet1*"], realnet_home)
    assert "timm" in modules and not modules & {"brainscore_vision", "open_clip"}
    import timm

    assert listed == sorted((f"timm:{name}" for name in timm.list_models("resnet1*")),
                            key=lambda s: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)])
