"""Issue 11, section 1 at the verbs: ``score`` (API and CLI), ``submit`` and the CLI output paths check their inputs
before any model is loaded or built, in one line naming the value and the expectation, and leave nothing behind."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import realnet_plugin
import realnet_plugin.api as api
from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.options import BenchmarkOptionError
from model_registry import Preprocessing, list_models, register_model
from realnet_plugin.cli import main

PROBE = "test_valopt_probe"
BUILDS: list[str] = []
PIXELS = Preprocessing(image_size=16, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))


@pytest.fixture(scope="module", autouse=True)
def probe_model() -> str:
    """A small registered network whose builds are counted in BUILDS."""
    def build(pretrained: bool) -> torch.nn.Module:
        BUILDS.append(PROBE)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())

    if PROBE not in list_models(PROBE):
        register_model(PROBE, family="test", layers=("1", "2"), region_layer_map={"IT": "2"},
                       preprocessing=PIXELS)(build)
    return PROBE


@pytest.fixture(scope="module")
def four_reps(tmp_path_factory) -> Path:
    """2 subjects, 6 test images, 4 repetitions each."""
    return generate_things_eeg2(tmp_path_factory.mktemp("four") / "things-eeg2", n_subjects=2, n_test_images=6,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=4,
                                n_train_repetitions=2, image_size=16, progress=False)


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every model the verbs load (``load_model`` calls), recorded; and no network may be built."""
    calls: list[str] = []
    original = api.load_model
    monkeypatch.setattr(api, "load_model", lambda identifier, **options: calls.append(identifier) or original(
        identifier, **options))
    before = len(BUILDS)
    yield calls
    assert len(BUILDS) == before, "a network was built"


def _error_line(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit 1 and exactly one line on stderr; return it."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


# --- score: the benchmark is built and validated before the model is loaded ---------------------------------------
def test_score_validates_the_data_before_loading_the_model(four_reps, loads):
    with pytest.raises(ValueError) as caught:
        realnet_plugin.score(PROBE, "things-eeg-rsa", root=str(four_reps))
    assert "holds 4 repetitions per image" in str(caught.value) and "method_params={'navg': 1}" in str(caught.value)
    assert loads == []


def test_score_checks_options_before_loading_the_model(loads):
    with pytest.raises(BenchmarkOptionError, match=r"^unknown option 'windw' for things-eeg-rsa; valid: .* \(did "
                                                   r"you mean window\?\)$"):
        realnet_plugin.score(PROBE, "things-eeg-rsa", windw=[0, 0.5])
    assert loads == []


def test_options_with_a_built_benchmark_are_refused(four_reps):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=four_reps)
    with pytest.raises(ValueError, match=r"^score\(\): benchmark option window=\[0, 0.3\] does not apply to the "
                                         r"already-built benchmark 'things-eeg-rsa-correlation'; pass it when building "
                                         r"it: load_benchmark\('things-eeg-rsa-correlation', window=...\)"):
        realnet_plugin.score(PROBE, benchmark, window=[0, 0.3])


@pytest.mark.parametrize("pair", ["windw=[0,0.5]", "window=0-0.5", "window=[0.1]", "score_subjects=1"])
def test_cli_options_give_the_api_messages(pair, loads, capsys):
    key, value = pair.split("=", 1)
    import json

    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    with pytest.raises(BenchmarkOptionError) as caught:
        load_benchmark("things-eeg-rsa", **{key: parsed})
    line = _error_line(capsys, ["score", PROBE, "things-eeg-rsa", "--option", pair])
    assert line == f"realnet score: error: {caught.value}"
    assert loads == []


def test_cli_names_the_remedy_for_too_few_repetitions(four_reps, loads, capsys):
    line = _error_line(capsys, ["score", PROBE, "things-eeg-rsa", "--option", f"root={four_reps}"])
    assert "holds 4 repetitions per image" in line and """--option 'method_params={"navg":1}'""" in line
    assert loads == []


@pytest.mark.parametrize(("pairs", "expected"), [
    (["window"], "--option expects KEY=VALUE (e.g. --option window=[0,0.5]), got 'window'"),
    (["=1"], "--option expects KEY=VALUE (e.g. --option window=[0,0.5]), got '=1'"),
    (["seed=1", "seed=2"], "--option seed is given twice (1 and '2'); give it once"),
])
def test_malformed_option_pairs(pairs, expected, loads, capsys):
    argv = ["score", PROBE, "things-eeg-rsa"]
    for pair in pairs:
        argv += ["--option", pair]
    assert _error_line(capsys, argv) == f"realnet score: error: {expected}"


# --- output paths, checked before any work ------------------------------------------------------------------------
@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "results"
    path.write_text("not a folder")
    return path


def test_score_output_under_a_file_is_named_before_scoring(a_file, tmp_path, loads, capsys, monkeypatch):
    monkeypatch.setattr(realnet_plugin, "score", lambda *a, **k: pytest.fail("scored despite a bad output path"))
    line = _error_line(capsys, ["score", PROBE, "things-eeg-rsa", "--json", str(a_file / "x.json")])
    assert line == f"realnet score: error: --json {a_file / 'x.json'}: {a_file} is a file, not a folder"
    line = _error_line(capsys, ["score", PROBE, "things-eeg-rsa", "--netcdf", str(a_file / "deep" / "x.nc")])
    assert line == f"realnet score: error: --netcdf {a_file / 'deep' / 'x.nc'}: {a_file} is a file, not a folder"
    line = _error_line(capsys, ["score", PROBE, "things-eeg-rsa", "--json", str(tmp_path)])
    assert line == f"realnet score: error: --json {tmp_path}: it is a folder; expected a file name"


def test_leaderboard_output_paths(a_file, tmp_path, capsys, monkeypatch):
    import realnet_plugin.leaderboard as board

    monkeypatch.setattr(board, "run_leaderboard", lambda *a, **k: pytest.fail("ran despite a bad output path"))
    base = ["leaderboard", "--models", PROBE, "--benchmarks", "things-eeg-rsa"]
    assert _error_line(capsys, [*base, "--html", str(a_file / "board.html")]) == (
        f"realnet leaderboard: error: --html {a_file / 'board.html'}: {a_file} is a file, not a folder")
    assert _error_line(capsys, [*base, "--db", str(a_file / "lb.sqlite")]) == (
        f"realnet leaderboard: error: --db {a_file / 'lb.sqlite'}: {a_file} is a file, not a folder")
    assert _error_line(capsys, [*base, "--figure", f"{PROBE}={tmp_path / 'none.png'}"]) == (
        f"realnet leaderboard: error: --figure {PROBE}={tmp_path / 'none.png'}: {tmp_path / 'none.png'} is not a "
        "file (expected a PNG written before the run)")


def test_submit_output_paths(a_file, tmp_path, loads, capsys):
    assert _error_line(capsys, ["submit", PROBE, "--out", str(a_file / "plugin.zip")]) == (
        f"realnet submit: error: --out {a_file / 'plugin.zip'}: {a_file} is a file, not a folder")
    existing = tmp_path / "existing"
    existing.mkdir()
    assert _error_line(capsys, ["submit", PROBE, "--out", str(existing)]) == (
        f"realnet submit: error: --out {existing}: it already exists; give a new folder")
    assert loads == []


def test_train_and_synth_output_paths(a_file, capsys, monkeypatch):
    import realnet_plugin.training as training

    monkeypatch.setattr(training, "build_teacher", lambda *a, **k: pytest.fail("teacher built despite a bad --out"))
    assert _error_line(capsys, ["train", "--subject", "1", "--out", str(a_file)]) == (
        f"realnet train: error: --out {a_file}: it is a file; expected a folder for checkpoints and logs")
    assert _error_line(capsys, ["data", "synth", "things-eeg2", "--out", str(a_file / "synth")]) == (
        f"realnet data: error: --out {a_file / 'synth'}: {a_file} is a file, not a folder")


# --- submit --option ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("pair", "expected"), [
    ("epsilon=[0,0.01]", "unknown option 'epsilon' for fgsm-robustness; valid: batch_size, device, epsilons, "
                         "images, progress, seed, steps (did you mean epsilons?)"),
    ("epsilons=0.01", "option epsilons=0.01 for fgsm-robustness (a float): expected a non-empty list of L-inf "
                      "budgets >= 0 in pixel units [0, 1], e.g. epsilons=[0.0, 0.004, 0.016] (CLI: --option "
                      "epsilons=[0.0,0.004,0.016])"),
])
def test_submit_validates_options_before_writing(pair, expected, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for out in (out_dir / "plugin.zip", out_dir / "plugin"):
        line = _error_line(capsys, ["submit", "--benchmark", "fgsm-robustness", "--as", "fgsm-custom", "--option",
                                    pair, "--out", str(out)])
        assert line == f"realnet submit: error: {expected}"
        assert list(out_dir.iterdir()) == []  # no plugin, no hidden staging file or folder
