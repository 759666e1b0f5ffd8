"""``realnet paper``'s fMRI ROI comparison and robustness curves on generated data: every table and figure
written, table values equal to ``score()`` called directly for the same model and benchmark, resume recomputes
nothing."""
from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import torch

from benchmarks.datasets.shen2019.synth import write_synthetic_shen2019
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, save_trained
from model_registry.storage.paths import models_dir
from realnet_plugin import score
from realnet_plugin.cli import main
from realnet_plugin.paper import run_paper

EEG_OPTIONS = {"ceiling": False, "layers": ["IT"], "n_permutations": 8, "min_cluster_length": 1}
FMRI_OPTIONS = {"layers": ["V4", "IT"], "n_bootstrap": 0}
ROBUST_OPTIONS = {"epsilons": [0.0, 0.016], "steps": 1, "batch_size": 2}  # + "images": two photos (below)
MODELS = ["realnet_s01_b100", "realnet_s02_b100", "realnet_s01_b0"]


def _models(config: ReAlnetConfig) -> None:
    for seed, (subject, beta) in enumerate(((1, 100.0), (2, 100.0), (1, 0.0))):
        torch.manual_seed(seed)
        save_trained(ReAlnet(config), TrainedRun(subject=subject, beta=beta, config=config,
                                                 preprocessing=Preprocessing(32)), root=models_dir())


def _eeg(tmp_path):
    return generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=2, n_test_images=6, n_train_concepts=2,
                                n_train_per_concept=1, n_test_repetitions=4, n_train_repetitions=2, image_size=32,
                                progress=False)


@pytest.mark.parametrize("kind", ["things-fmri", "shen2019"])
def test_paper_fmri_and_robustness_tables_equal_direct_scores_and_resume(tmp_path, kind):
    eeg_root = _eeg(tmp_path)
    if kind == "things-fmri":
        fmri_root = write_synthetic_things_fmri(tmp_path / "fmri", n_subjects=3, n_concepts=3, images_per_concept=2,
                                                n_repetitions=2).root
        fmri_id = "things-fmri-roi"
    else:
        fmri_root = write_synthetic_shen2019(tmp_path / "fmri", n_subjects=3, n_images=6, n_repetitions=2).root
        fmri_id = "shen2019-fmri-roi"
    _models(ReAlnetConfig(image_size=32))
    robust_options = dict(ROBUST_OPTIONS)
    if kind == "things-fmri":  # robustness once (the fMRI kind does not change it): two small photos
        from PIL import Image
        from skimage import data as photos

        folder = tmp_path / "photos"
        folder.mkdir()
        for name in ("chelsea", "coffee"):
            Image.fromarray(getattr(photos, name)()).convert("RGB").resize((48, 48)).save(folder / f"{name}.png")
        robust_options["images"] = str(folder)
    out = tmp_path / "paper"
    argv = ["paper", "--data", str(eeg_root), "--models", "realnet_s*_b100", "--baselines", "realnet_s01_b0",
            "--out", str(out), "--method", "correlation", "--n-permutations", "8", "--n-bootstrap", "0",
            "--fmri", kind, str(fmri_root)] + (["--robustness"] if kind == "things-fmri" else [])
    for key, value in EEG_OPTIONS.items():
        argv += ["--option", f"{key}={json.dumps(value)}"]
    for key, value in FMRI_OPTIONS.items():
        argv += ["--fmri-option", f"{key}={json.dumps(value)}"]
    for key, value in robust_options.items() if kind == "things-fmri" else ():
        argv += ["--robustness-option", f"{key}={json.dumps(value)}"]
    started = time.perf_counter()
    assert main(argv) == 0
    print(f"paper run {time.perf_counter() - started:.1f} s")

    stems = [f"fmri_{m}" for m in MODELS] + (["fgsm-robustness", "pgd-robustness"] if kind == "things-fmri" else [])
    for stem in stems:
        for suffix in (".png", ".pdf"):
            path = out / "figures" / f"{stem}{suffix}"
            assert path.is_file() and path.stat().st_size > 1000, path
    for name in ("results.csv", "results.md"):
        assert (out / name).stat().st_size > 0

    table = pd.read_csv(out / "results.csv")
    # one row per (model, benchmark): 2 EEG + 3 fMRI (+ 2 x 3 robustness)
    assert len(table) == 2 + 3 + (6 if kind == "things-fmri" else 0)
    assert not table.duplicated(["model", "benchmark"]).any()
    rows = table.set_index(["model", "benchmark"])
    # a second path: each number scored here directly through the public API
    for model in MODELS:
        direct = score(model, fmri_id, root=str(fmri_root), **FMRI_OPTIONS)
        row = rows.loc[(model, fmri_id)]
        assert row["score"] == pytest.approx(float(direct), abs=1e-9)
        assert row["raw"] == pytest.approx(float(direct.attrs["raw"]), abs=1e-9)
        best = direct.attrs["best_layer"]  # one layer per ROI
        assert set(best.values()) <= set(FMRI_OPTIONS["layers"])
        assert row["best_layer"] == "; ".join(f"{roi}={layer}" for roi, layer in best.items())
        for attack in ("fgsm", "pgd") if kind == "things-fmri" else ():
            direct = score(model, f"{attack}-robustness", **robust_options)
            row = rows.loc[(model, f"{attack}-robustness")]
            assert row["score"] == pytest.approx(float(direct), abs=1e-9)
            assert row["raw"] == pytest.approx(float(direct.attrs["raw"]), abs=1e-9)
    markdown = (out / "results.md").read_text()
    assert markdown.count("\n") == 2 + len(table)
    assert f"| realnet_s02_b100 | {fmri_id} |" in markdown

    # resume: nothing recomputed, no file rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = run_paper(eeg_root, out, models="realnet_s*_b100", baselines="realnet_s01_b0", method="correlation",
                      options=EEG_OPTIONS, fmri=(kind, fmri_root), fmri_options=FMRI_OPTIONS,
                      robustness=kind == "things-fmri", robustness_options=robust_options, n_permutations=8,
                      n_bootstrap=0, progress=None)
    assert again.computed == [] and len(again.reused) == 14 + (8 if kind == "things-fmri" else 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
