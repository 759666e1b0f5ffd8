"""The command line a researcher expects (issue 14, section 4): ``realnet --help`` without the heavy stack,
``realnet list`` importing only what it lists, ``--version`` from the installed distribution, options after
positional arguments, and a closed pipe (``| head``) ending quietly.

Which modules a command loads is read from the interpreter's own ``-X importtime`` report of a fresh process, not
from our code; expected listings come from the Python API in this process or from hand-written ids.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import brainscore_vision
import pytest

import realnet_plugin
from realnet_plugin import cli

REALNET = Path(sys.executable).with_name("realnet")  # the console script pip wrote beside this interpreter
HEAVY = ("torch", "brainscore_vision", "brainscore_core", "xarray", "model_registry", "benchmarks",
         "realnet_plugin.api")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def _run(args: list[str], *, entry: str = "script", **kwargs) -> tuple[subprocess.CompletedProcess, set[str], float]:
    """Run ``realnet args`` in a fresh interpreter under ``-X importtime``: (result, modules imported, seconds)."""
    launcher = {"script": [str(REALNET)], "module": ["-m", "realnet_plugin.cli"],
                "package": ["-m", "realnet_plugin"]}[entry]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *launcher, *args], capture_output=True, text=True,
                          timeout=300, **kwargs)
    seconds = time.perf_counter() - started
    modules = set(IMPORTED.findall(done.stderr))
    stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, stderr), modules, seconds


def test_console_script_is_the_one_tested():
    assert REALNET.is_file(), f"no realnet console script beside {sys.executable}"


@pytest.mark.parametrize("entry", ["script", "module", "package"])
def test_help_loads_no_heavy_module(entry):
    done, modules, seconds = _run(["--help"], entry=entry)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    assert done.stdout.startswith("usage: realnet")
    for verb in ("list", "score", "data", "cache", "plot", "train", "leaderboard", "submit", "demo"):
        assert re.search(rf"^\s+{verb}\s", done.stdout, re.MULTILINE), verb
    assert "realnet_plugin.cli.cache" in modules  # the report is real: the command modules were imported
    assert not modules & set(HEAVY), f"--help imported {sorted(modules & set(HEAVY))} ({seconds:.2f} s)"


def test_subcommand_help_loads_no_heavy_module():
    done, modules, _ = _run(["score", "--help"])
    assert done.returncode == 0 and "--random-weights" in done.stdout
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_list_models_imports_the_registry_only(realnet_home):
    done, modules, _ = _run(["list", "models"], env={**os.environ, "REALNET_HOME": str(realnet_home)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == _api_listing("import model_registry as m; print(*m.list_models(), sep=chr(10))",
                                               realnet_home)
    assert {"cornet_s", "clip_rn101", "clip_vit_b32"} <= set(done.stdout.split())
    assert "model_registry" in modules and "benchmarks" not in modules and "realnet_plugin.api" not in modules


def test_list_benchmarks_matches_the_api(realnet_home):
    done, _, _ = _run(["list", "benchmarks"], env={**os.environ, "REALNET_HOME": str(realnet_home)})
    assert done.returncode == 0, done.stderr[-2000:]
    expected = _api_listing("import realnet_plugin as r; print(*r.list_benchmarks(), sep=chr(10))", realnet_home)
    assert done.stdout.split() == expected and "kriegeskorte2008-hit-rsa" in done.stdout.split()


def _api_listing(code: str, home) -> list[str]:
    """The Python API's listing in a fresh interpreter (this process also holds ids other tests registered)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "REALNET_HOME": str(home)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.parametrize("entry", ["script", "package"])
def test_version_is_the_installed_distribution(entry):
    distribution = importlib.metadata.distribution("realnet-plugin")
    metadata = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO")  # wheel / egg-info file
    expected = re.search(r"^Version: (\S+)$", metadata, re.MULTILINE).group(1)
    done, modules, _ = _run(["--version"], entry=entry)  # package: `python -m realnet_plugin --version`
    assert (done.returncode, done.stdout, done.stderr) == (0, f"realnet {expected}\n", "")
    assert not modules & set(HEAVY)
    assert realnet_plugin.__version__ == expected


def test_python_import_still_registers_in_brainscore():
    """A Python user's ``import realnet_plugin`` is eager as before: our ids are in Brain-Score's registries at
    once, and the public verbs are the api's. The registries are lazy (issue 13 section 2): even this import loads
    no torch until a model is built."""
    code = ("import sys, realnet_plugin, brainscore_vision as bv; "
            "print('cornet_s' in bv.model_registry, 'kriegeskorte2008-hit-rsa' in bv.benchmark_registry, "
            "'torch' in sys.modules, realnet_plugin.score is sys.modules['realnet_plugin.api'].score)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "False", "True"]


def test_lazy_names_resolve_and_register_in_a_cli_process(tmp_path):
    """In a process started as the ``realnet`` script the package stays light until a public name is used; that
    name then loads the api and registers our ids in Brain-Score, exactly as the eager import does."""
    script = tmp_path / "realnet"
    script.write_text(
        "import sys, realnet_plugin\n"
        "print('model_registry' in sys.modules, 'torch' in sys.modules)\n"
        "print(realnet_plugin.list_models('clip*'))\n"
        "import brainscore_vision as bv\n"
        "print('cornet_s' in bv.model_registry, 'kriegeskorte2008-hit-rsa' in bv.benchmark_registry)\n"
        "print(sorted(set(realnet_plugin.__all__) - set(dir(realnet_plugin))))\n"
        "try:\n    realnet_plugin.no_such_name\nexcept AttributeError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "False False", "['clip_rn101', 'clip_vit_b32']", "True True", "[]",
        "module 'realnet_plugin' has no attribute 'no_such_name'"]
    assert "cornet_s" in brainscore_vision.model_registry  # and in this (eager) test process too


def test_options_after_positionals(capsys):
    assert cli.main(["list", "models", "--details", "clip*"]) == 0
    after = capsys.readouterr().out
    assert cli.main(["list", "--details", "models", "clip*"]) == 0
    assert capsys.readouterr().out == after
    rows = [line.split() for line in after.splitlines()]
    assert [row[:2] for row in rows] == [["clip_rn101", "clip"], ["clip_vit_b32", "clip"]]
    assert rows[0][2] == "layers=layer1,layer2,layer3,layer4,attnpool"


@pytest.mark.parametrize("argv", [
    ["score", "cornet_s", "kriegeskorte2008-hit-rsa", "--json", "out.json", "--seed", "3"],
    ["score", "--json", "out.json", "cornet_s", "--seed", "3", "kriegeskorte2008-hit-rsa"],
    ["score", "cornet_s", "--seed", "3", "kriegeskorte2008-hit-rsa", "--json", "out.json"],
    ["score", "--seed=3", "--json", "out.json", "cornet_s", "kriegeskorte2008-hit-rsa"],
])
def test_score_arguments_in_any_order(argv):
    args = cli.build_parser().parse_args(argv)
    assert (args.model, args.benchmark, args.json, args.seed) == ("cornet_s", "kriegeskorte2008-hit-rsa",
                                                                  Path("out.json"), 3)


def test_other_parsers_keep_working():
    parse = cli.build_parser().parse_args
    plot = parse(["plot", "a.json", "--out", "x.png", "b.json"])  # nargs='*' split by an option
    assert plot.scores == [Path("a.json"), Path("b.json")] and plot.out == Path("x.png")
    for argv in (["submit", "cornet_s", "--out", "x.zip"], ["submit", "--out", "x.zip", "cornet_s"]):
        submit = parse(argv)  # positional inside a mutually exclusive group: argparse's own order rules
        assert (submit.model, submit.out, submit.benchmark) == ("cornet_s", Path("x.zip"), None)
    prune = parse(["cache", "prune", "--older-than", "30d", "--dry-run"])  # nested subcommands
    assert (prune.older_than, prune.dry_run) == ("30d", True)
    with pytest.raises(SystemExit) as error:
        parse(["list", "models", "clip*", "extra"])
    assert error.value.code == 2


@pytest.mark.parametrize(("args", "codes"), [
    (["--help"], (0, 141)),  # argparse itself ignores a failed write of the help text
    (["list", "models", "timm:*"], (141,)),  # 128 + SIGPIPE, as a shell reports `yes | head -1`
])
def test_closed_pipe_ends_quietly(args, codes, realnet_home):
    """The reader closes the pipe before the command writes a byte, so every write meets a closed pipe."""
    process = subprocess.Popen([sys.executable, str(REALNET), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "REALNET_HOME": str(realnet_home)})
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) in codes, stderr[-2000:]
    assert stderr == ""


def test_a_broken_pipe_elsewhere_is_an_error_line(monkeypatch, capsys):
    """Only a closed standard output is quiet: a pipe to another process that breaks is one error line."""

    def add(sub):
        def run(args):
            raise BrokenPipeError(32, "Broken pipe")

        sub.add_parser("boom").set_defaults(run=run)

    monkeypatch.setitem(cli.COMMANDS, "boom", add)
    assert cli.main(["boom"]) == 1
    assert capsys.readouterr().err == "realnet boom: error: [Errno 32] Broken pipe\n"
