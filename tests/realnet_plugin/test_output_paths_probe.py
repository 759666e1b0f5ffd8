"""Output paths are tried for real before any work: a place where nothing can be created (``/proc``, where even
root's ``os.access`` says yes) fails in one line naming the option, and the probe leaves nothing behind."""
from __future__ import annotations

import os

import pytest

import realnet_plugin
from realnet_plugin.cli import check_output_path, main


def _line(capsys, argv) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_score_output_under_proc_fails_before_scoring(capsys, monkeypatch):
    monkeypatch.setattr(realnet_plugin, "score", lambda *a, **k: pytest.fail("scored despite a bad output path"))
    import realnet_plugin.api as api
    monkeypatch.setattr(api, "score", lambda *a, **k: pytest.fail("scored despite a bad output path"))
    line = _line(capsys, ["score", "cornet_s", "kriegeskorte2008-hit-rsa", "--json", "/proc/nope/x.json"])
    assert line == ("realnet score: error: --json /proc/nope/x.json: cannot create a folder under /proc "
                    "(No such file or directory)")
    line = _line(capsys, ["score", "cornet_s", "kriegeskorte2008-hit-rsa", "--csv", "/proc/x.csv"])
    assert line.startswith("realnet score: error: --csv /proc/x.csv: cannot create a file under /proc (")


@pytest.mark.parametrize("argv,flag", [
    (["plot", "/nonexistent.json", "--out", "/proc/x/fig.png"], "--out"),
    (["experiment", "alignment", "--quick", "--json", "/proc/x/r.json"], "--json"),
    (["demo", "--home", "/proc/x/home"], "--home"),
    (["paper", "--data", "/nonexistent", "--out", "/proc/x/paper"], "--out"),
])
def test_every_command_probes_its_outputs_first(capsys, argv, flag):
    line = _line(capsys, argv)
    assert f"error: {flag} /proc/x" in line and "cannot create a folder under /proc" in line


def test_the_probe_leaves_nothing(tmp_path):
    check_output_path(tmp_path / "a.json", "--json")
    check_output_path(tmp_path / "deep" / "er" / "a.json", "--json")
    assert os.listdir(tmp_path) == []


def test_synth_into_a_full_folder_names_the_cli_flag(tmp_path, capsys):
    (tmp_path / "kept.txt").write_text("mine")
    line = _line(capsys, ["data", "synth", "things-eeg2", "--out", str(tmp_path)])
    assert line == (f"realnet data: error: --out {tmp_path}: the folder is not empty; give a new folder or "
                    "--overwrite")
    assert os.listdir(tmp_path) == ["kept.txt"]
