"""The Brain-Score plugin templates ship in the built distribution (``realnet submit`` reads them at run time;
the template folders are not Python packages, so ``package_data`` must name them)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_wheel_holds_every_template(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("realnet_plugin", "model_registry", "benchmarks"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("realnet_plugin-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".tmpl")}
    expected = {path.relative_to(REPO).as_posix() for path in (REPO / "realnet_plugin").rglob("*.tmpl")}
    assert len(expected) >= 11 and shipped == expected
    assert {"realnet_plugin/__main__.py", "realnet_plugin/cli/registry.py"} <= set(zipfile.ZipFile(wheel).namelist())
