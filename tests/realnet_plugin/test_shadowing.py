"""A user's own ``benchmarks/`` package in the working folder: one clear ImportError instead of a plugin that
silently lists no benchmark (with the editable install even a plain folder of that name is imported as a namespace
package in place of ours); elsewhere everything works."""
import subprocess
import sys

import pytest

from realnet_plugin._shadowing import check_packages

CODE = "import realnet_plugin; print(len(realnet_plugin.list_benchmarks()))"


def _run(cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CODE], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["benchmarks", "model_registry"])
def test_a_shadowing_package_is_named_in_one_line(tmp_path, name):
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("MINE = True\n")
    done = _run(tmp_path)
    assert done.returncode != 0 and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: realnet-plugin: the package '{name}' resolves to {tmp_path / name}")
    assert "rename it, or run from another folder" in last


def test_elsewhere_the_benchmarks_are_listed(tmp_path):
    (tmp_path / "benchmarks_results").mkdir()
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    # the same listing from the repository root, in a fresh process (this process holds test-only registrations)
    from pathlib import Path

    reference = _run(Path(__file__).resolve().parents[2])
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert int(done.stdout) == int(reference.stdout) > 5


def test_check_against_another_root(tmp_path):
    with pytest.raises(ImportError, match=f"resolves to .*, not to realnet-plugin's {tmp_path}/benchmarks"):
        check_packages(tmp_path)
