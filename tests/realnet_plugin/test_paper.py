"""``realnet paper`` on generated data: every table and figure, numbers equal to direct scores, resumable."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, save_trained
from model_registry.storage.paths import models_dir
from realnet_plugin import score
from realnet_plugin.cli import main

BENCHMARK = "things-eeg-rsa-correlation"
OPTIONS = {"ceiling": False, "layers": ["IT"], "window": [-0.1, 0.49], "n_permutations": 16,
           "min_cluster_length": 1}


def test_realnet_paper_writes_every_table_and_figure_with_direct_numbers_and_resumes(tmp_path):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=3, n_test_images=10, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=4, n_train_repetitions=2, image_size=32,
                                progress=False)
    config = ReAlnetConfig(image_size=32)
    for subject in (1, 2, 3):
        torch.manual_seed(subject)
        save_trained(ReAlnet(config), TrainedRun(subject=subject, beta=100.0, config=config,
                                                 preprocessing=Preprocessing(32)), root=models_dir())
    torch.manual_seed(7)  # the baseline: a registered plain model with fixed saved weights (deterministic)
    save_trained(ReAlnet(config), TrainedRun(subject=1, beta=0.0, config=config, preprocessing=Preprocessing(32)),
                 root=models_dir())
    out = tmp_path / "paper"
    argv = ["paper", "--data", str(root), "--models", "realnet_s*_b100", "--baselines", "realnet_s01_b0", "--out",
            str(out), "--method", "correlation", "--n-permutations", "16",
            "--n-bootstrap", "20"]
    for key, value in OPTIONS.items():
        argv += ["--option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0

    expected = ["results.csv", "results.md", "improvement.csv", "improvement.md", "manifest.json"]
    for stem in ("eeg_realnet_s__b100", "eeg_realnet_s01_b0", "improvement_realnet_s__b100_vs_realnet_s01_b0"):
        expected += [f"figures/{stem}.png", f"figures/{stem}.pdf"]
    for name in expected:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    # the table's numbers equal scores computed here directly (a second path: realnet_plugin.score)
    family = score("realnet_s*_b100", BENCHMARK, root=str(root), **OPTIONS)
    base = score("realnet_s01_b0", BENCHMARK, root=str(root),
                 score_subjects=[1, 2, 3], match_subject=False, **OPTIONS)
    table = pd.read_csv(out / "results.csv").set_index("model")
    assert sorted(table.index) == sorted(["realnet_s01_b0", "realnet_s*_b100"])
    for name, direct in (("realnet_s*_b100", family), ("realnet_s01_b0", base)):
        row = table.loc[name]
        assert row["benchmark"] == BENCHMARK and row["best_layer"] == "IT"
        assert row["score"] == pytest.approx(float(direct), abs=1e-9)
        assert row["raw"] == pytest.approx(float(direct.attrs["raw"]), abs=1e-9)
        mean = direct.attrs["similarity"].sel(layer="IT").mean("subject")
        inside = mean.sel(time=slice(-0.1 - 1e-9, 0.49 + 1e-9))
        assert row["peak_time_s"] == pytest.approx(float(inside["time"][int(np.argmax(inside.values))]), abs=1e-9)
    markdown = (out / "results.md").read_text()
    assert markdown.count("\n") == 4 and "| realnet_s*_b100 | " in markdown
    # improvement: hand computation from the two direct scores, per subject in pairs
    impr = pd.read_csv(out / "improvement.csv")
    assert impr["layer"].tolist() == ["IT"]
    a = family.attrs["similarity"].sel(layer="IT").values
    b = base.attrs["similarity"].sel(layer="IT", subject=[1, 2, 3]).values
    times = family.attrs["similarity"]["time"].values
    inside = (times >= -0.1 - 1e-9) & (times <= 0.49 + 1e-9)
    hand = (a - b).mean(axis=0)[inside]
    assert impr.loc[0, "mean_improvement"] == pytest.approx(hand.mean(), abs=1e-9)
    assert impr.loc[0, "peak_improvement"] == pytest.approx(hand.max(), abs=1e-9)
    ratio = hand / b.mean(axis=0)[inside]
    assert impr.loc[0, "mean_ratio"] == pytest.approx(np.mean(ratio[np.isfinite(ratio)]), abs=1e-9)

    # second run: nothing recomputed, no file rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    from realnet_plugin.paper import run_paper

    again = run_paper(root, out, models="realnet_s*_b100", baselines="realnet_s01_b0", method="correlation",
                      options=OPTIONS, n_permutations=16, n_bootstrap=20, progress=None)
    assert again.computed == [] and len(again.reused) == 8
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    # a changed setting recomputes what depends on it (the comparison, its figure, the tables), not the scores
    changed = run_paper(root, out, models="realnet_s*_b100", baselines="realnet_s01_b0", method="correlation",
                        options=OPTIONS, n_permutations=16, n_bootstrap=20, seed=1,
                        progress=None)
    assert "eeg_realnet_s*_b100" not in changed.computed and "eeg_realnet_s01_b0" not in changed.computed
    assert "improvement_realnet_s*_b100_vs_realnet_s01_b0" in changed.computed
    assert not math.isnan(pd.read_csv(out / "improvement.csv").loc[0, "mean_improvement"])
    # the baseline retrained under the same id: its score is computed again, never served from the earlier run
    shutil.rmtree(models_dir() / "realnet_s01_b0")
    torch.manual_seed(8)
    save_trained(ReAlnet(config), TrainedRun(subject=1, beta=0.0, config=config, preprocessing=Preprocessing(32)),
                 root=models_dir())
    retrained = run_paper(root, out, models="realnet_s*_b100", baselines="realnet_s01_b0", method="correlation",
                          options=OPTIONS, n_permutations=16, n_bootstrap=20, seed=1, progress=None)
    assert "eeg_realnet_s01_b0" in retrained.computed and "eeg_realnet_s*_b100" not in retrained.computed
    fresh = score("realnet_s01_b0", BENCHMARK, root=str(root), score_subjects=[1, 2, 3], match_subject=False,
                  **OPTIONS)
    row = pd.read_csv(out / "results.csv").set_index("model").loc["realnet_s01_b0"]
    assert row["raw"] == pytest.approx(float(fresh.attrs["raw"]), abs=1e-9)
    shutil.rmtree(models_dir())


def test_realnet_paper_refuses_bad_inputs_before_any_model(tmp_path, capsys):
    assert main(["paper", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) != 0
    assert "--data folder not found" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    assert main(["paper", "--data", str(tmp_path / "d"), "--baselines", "no_such_model", "--out",
                 str(tmp_path / "o")]) != 0
    assert "baseline 'no_such_model' is not a registered model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
