"""The import rules of the floor plan (.importlinter, run by `make lint`): they hold on this tree, and each contract
really fails when its rule is broken (checked on copies of the packages, each with one forbidden import planted)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("model_registry", "benchmarks", "realnet_plugin")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# planted import -> the contract (by its name in .importlinter) that must report it
PLANTED = {
    "model_registry/storage/paths.py": ("import benchmarks.registry\n", "model_registry imports neither"),
    "benchmarks/registry.py": ("import realnet_plugin.results\n", "benchmarks never imports realnet_plugin"),
    "realnet_plugin/training/losses.py": ("import benchmarks.rsa.metrics\n", "The trainer imports datasets"),
    "benchmarks/datasets/image_sets.py": ("import benchmarks.roi_rsa\n", "The datasets room imports no benchmark"),
    # realnet imports storage.download: storage <-> realnet become a cycle of siblings in model_registry
    "model_registry/storage/download.py": ("import model_registry.realnet\n", "No import cycle between sibling"),
}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    assert LINT_IMPORTS.is_file(), f"lint-imports is not installed beside {sys.executable} (pip install import-linter)"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def status_of(output: str, name_start: str) -> str:
    """'KEPT' or 'BROKEN' for the contract whose name starts with ``name_start`` (names may wrap over lines)."""
    text = " ".join(output.split())
    position = text.find(name_start)
    assert position >= 0, f"contract {name_start!r} not in the report:\n{output}"
    return re.search(r"\b(KEPT|BROKEN)\b", text[position:])[1]


def planted_tree(root: Path, path: str) -> Path:
    """A copy of the three packages and .importlinter under ``root`` with the one import ``PLANTED[path]`` added."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    target = root / path
    target.write_text(target.read_text() + "\n" + PLANTED[path][0])
    return root


def test_the_tree_keeps_every_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "BROKEN" not in result.stdout


@pytest.mark.parametrize("path", list(PLANTED))
def test_each_rule_fails_when_broken(tmp_path, path):
    result = lint_imports(planted_tree(tmp_path, path))
    assert result.returncode == 1, result.stdout + result.stderr
    line, contract = PLANTED[path]
    assert status_of(result.stdout, contract) == "BROKEN", result.stdout
    planted = line.split()[1].rsplit(".", 1)[-1]  # the imported module, named in the broken contract's report
    assert planted in result.stdout[result.stdout.find("Broken contracts"):], result.stdout
