"""The command line's import structure (issue 13, section 1): no import cycle among ``realnet_plugin/cli/*``, no
command module importing the package module that imports it, and ``python -m realnet_plugin`` recognised as the
command line.

Imports are read from the source with :mod:`ast` (every ``import`` statement, function-level ones included, relative
ones resolved), and cycles are found by :class:`graphlib.TopologicalSorter` (standard library), not by our code.
"""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import realnet_plugin
from realnet_plugin import _run_module

PACKAGE_ROOT = Path(realnet_plugin.__file__).parent  # .../realnet_plugin


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of package it imports}`` for every ``.py`` file under ``root`` (the folder of
    ``package``); ``from X import name`` counts as importing ``X.name`` when that is a module of the package."""
    files = {_module_name(path, root, package): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            for target in targets:
                while target and target not in files:  # `import realnet_plugin.cli.x.y` -> the deepest module known
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as graphlib reports it, or ``None``."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_the_check_finds_a_planted_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from . import a\n")
    (package / "a.py").write_text("def f():\n    from .b import g\n")  # function-level imports count
    (package / "b.py").write_text("from pkg.a import f\n\ndef g():\n    pass\n")
    graph = import_graph(package, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert set(cycle(graph)) == {"pkg.a", "pkg.b"}


def test_cli_modules_import_no_cycle_and_never_the_main_module():
    graph = import_graph(PACKAGE_ROOT / "cli", "realnet_plugin.cli")
    assert {"realnet_plugin.cli", "realnet_plugin.cli.registry", "realnet_plugin.cli.catalog",
            "realnet_plugin.cli.train", "realnet_plugin.cli.demo"} <= set(graph)
    assert cycle(graph) is None
    importers_of_main = sorted(m for m, targets in graph.items() if "realnet_plugin.cli" in targets)
    assert importers_of_main == ["realnet_plugin.cli.__main__"]  # the entry point only
    assert graph["realnet_plugin.cli.registry"] == set()  # the registry depends on nothing of the CLI
    commands = set(graph) - {"realnet_plugin.cli", "realnet_plugin.cli.__main__", "realnet_plugin.cli.registry",
                             "realnet_plugin.cli.arguments"}
    assert graph["realnet_plugin.cli"] >= commands  # every command module imported explicitly by the main module
    assert all("realnet_plugin.cli.registry" in graph[m] for m in commands)


def test_no_cycle_through_the_cli_in_the_whole_package():
    """Across ``realnet_plugin`` (the CLI's function-level imports of the api, plots, training ... included), no
    module the CLI imports leads back to a CLI module."""
    graph = import_graph(PACKAGE_ROOT, "realnet_plugin")
    for start in (m for m in graph if m.startswith("realnet_plugin.cli")):
        seen, todo = set(), [t for t in graph[start] if not t.startswith("realnet_plugin.cli")]
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        back = sorted(m for m in seen if m.startswith("realnet_plugin.cli") and m != "realnet_plugin.cli.__main__")
        assert back == [], f"{start} -> ... -> {back}"


@pytest.mark.parametrize(("argv", "module"), [
    (["python", "-m", "realnet_plugin", "list", "models"], "realnet_plugin"),
    (["python", "-X", "importtime", "-m", "realnet_plugin.cli", "--help"], "realnet_plugin.cli"),
    (["python", "-u", "-W", "ignore", "-mrealnet_plugin", "train"], "realnet_plugin"),
    (["python", "-m", "pytest", "-m", "realnet_plugin"], "pytest"),  # pytest's own -m is a marker expression
    (["python", "script.py", "-m", "realnet_plugin"], None),
    (["python", "-c", "import realnet_plugin", "-m", "realnet_plugin"], None),
    (["python"], None),
])
def test_the_module_python_runs_is_read_from_its_argv(argv, module):
    assert _run_module(argv) == module
