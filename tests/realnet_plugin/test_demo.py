"""`realnet demo` end to end at reduced sizes: data, training, registration, scoring, figures, leaderboard page."""
from __future__ import annotations

import math

from model_registry import list_models
from realnet_plugin.cli import main
from realnet_plugin.demo import BASE_ID, CONTROL_ID, TRAINED_ID, DemoSizes, run_demo

SMALL = DemoSizes(n_subjects=2, n_test_images=12, n_train_concepts=6, n_train_per_concept=4, n_test_repetitions=20,
                  image_size=32, epochs=1, n_permutations=10)


def test_demo_runs_end_to_end(tmp_path, capsys):
    result = run_demo(tmp_path / "home", SMALL)
    out = capsys.readouterr().out
    for model in (TRAINED_ID, CONTROL_ID, BASE_ID):  # ReAlnet, its beta-0 control, the untrained base
        assert math.isfinite(result.scores[model]) and -1 <= result.raw[model] <= 1
        assert f"{model}" in out and f"{result.scores[model]:.3f}" in out
    effect = result.raw[TRAINED_ID] - result.raw[CONTROL_ID]
    assert f"EEG term's own effect (beta 100 - beta 0): {effect:+.3f}" in out
    assert CONTROL_ID in list_models("realnet*") and result.raw[CONTROL_ID] != result.raw[TRAINED_ID]
    assert TRAINED_ID in list_models("realnet*")
    assert (result.home / "models" / TRAINED_ID / "model.pt").is_file()
    for figure in (result.figure, result.improvement_figure):
        assert figure.read_bytes()[:4] == b"\x89PNG" and figure.stat().st_size > 10_000
    page = result.leaderboard.read_text()
    assert TRAINED_ID in page and BASE_ID in page and CONTROL_ID in page and "things-eeg-rsa" in page
    assert f"{result.scores[TRAINED_ID]:.3f}" in page and "data:image/png;base64," in page
    assert set(result.figures) == {TRAINED_ID, BASE_ID} and page.count("<figure ") == 4  # 3 models + improvement
    assert str(result.home) not in page and "things-eeg2 [content " in page  # the dataset by name, no path
    assert str(result.leaderboard) in out and str(result.figure) in out


def test_demo_command_reports_errors_in_one_line(tmp_path, capsys):
    home = tmp_path / "not-a-folder"
    home.write_text("a file where the demo home should go")
    assert main(["demo", "--home", str(home)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
