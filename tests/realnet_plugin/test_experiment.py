"""`realnet experiment alignment` in a reduced form: the bookkeeping of the controlled experiment.

Independent references: the paired test is scipy's ``ttest_rel`` on the reported per-subject similarities; the effect
is their hand difference; the generated data's signal source is read from ``synth_info.json``; every run's config is
read back from its own checkpoint (same seed for both betas of a subject, different seeds across subjects)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from realnet_plugin.cli import main
from realnet_plugin.experiment import ExperimentSettings, paired_test

TINY = dict(n_subjects=3, n_test_images=10, n_test_repetitions=4, n_train_concepts=2, n_train_per_concept=4,
            epochs=1, batch_size=8, method_params={"navg": 1, "n_folds": 2, "n_repeats": 1})


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_paired_test_equals_scipy():
    a, b = np.array([0.31, 0.28, 0.35, 0.30]), np.array([0.22, 0.25, 0.27, 0.29])
    ours, reference = paired_test(a - b), stats.ttest_rel(a, b)
    assert ours.t == pytest.approx(reference.statistic) and ours.p_value == pytest.approx(reference.pvalue)
    assert ours.df == 3 and ours.mean == pytest.approx(0.0525)
    low, high = stats.t.interval(0.95, 3, loc=np.mean(a - b), scale=stats.sem(a - b))
    assert ours.ci95 == pytest.approx((low, high))
    with pytest.raises(ValueError, match="needs >= 2 finite differences"):
        paired_test([0.1])


def test_settings_are_checked_before_anything_runs():
    with pytest.raises(ValueError, match="n_subjects must be >= 3"):
        ExperimentSettings(n_subjects=2)
    with pytest.raises(ValueError, match="betas must include 0 and 100"):
        ExperimentSettings(betas=(0.0, 10.0))
    with pytest.raises(ValueError, match="signal must be 'images' or 'random'"):
        ExperimentSettings(signal="none")


def test_bad_options_are_one_line_errors_before_any_work(tmp_path, capsys):
    assert main(["experiment", "alignment", "--quick", "--subjects", "2", "--home", str(tmp_path / "h")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n_subjects must be >= 3" in err and not (tmp_path / "h").exists()


def test_reduced_quick_run_reports_the_paired_effect_and_writes_json(tmp_path, capsys, monkeypatch):
    import realnet_plugin.training
    from realnet_plugin.cli import experiment as cli_experiment

    monkeypatch.setattr(cli_experiment, "QUICK", ExperimentSettings(**TINY))
    configs, original = [], realnet_plugin.training.train

    def spy(config, *args, **kwargs):
        configs.append(config)
        return original(config, *args, **kwargs)

    monkeypatch.setattr(realnet_plugin.training, "train", spy)
    json_file = tmp_path / "out" / "result.json"
    assert main(["experiment", "alignment", "--quick", "--home", str(tmp_path / "home"), "--json", str(json_file),
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    record = json.loads(json_file.read_text())
    assert f"p = {record['p_value']:.3g}" in out and str(json_file) in out
    assert record["n_subjects"] == 3 and record["subjects"] == [1, 2, 3]
    high, low = np.array(record["similarity"]["100"]), np.array(record["similarity"]["0"])
    np.testing.assert_allclose(record["effects"], high - low)
    reference = stats.ttest_rel(high, low)
    assert record["p_value"] == pytest.approx(reference.pvalue) and record["t"] == pytest.approx(reference.statistic)
    assert record["effect_mean"] == pytest.approx(float(np.mean(high - low)))
    assert np.all(np.abs(high) <= 1) and len(record["similarity"]["base"]) == 3
    assert record["settings"]["betas"] == [0.0, 100.0] and record["settings"]["signal"] == "images"
    info = json.loads((tmp_path / "home" / "data" / "things-eeg2" / "synth_info.json").read_text())
    assert info["signal_source"] == "images" and info["n_subjects"] == 3
    # same seed for both betas of a subject, another seed per subject; only beta differs within a subject
    assert [(c.subject, c.beta) for c in configs] == [(s, b) for s in (1, 2, 3) for b in (0.0, 100.0)]
    assert [c.seed for c in configs] == [2023, 2023, 2024, 2024, 2025, 2025]
    for first, second in zip(configs[::2], configs[1::2]):
        assert {k: v for k, v in first.to_dict().items() if k != "beta"} == {
            k: v for k, v in second.to_dict().items() if k != "beta"}
    # the layer table holds, per beta and subject, the window means whose maximum is the reported similarity
    for key in ("0", "100"):
        best = np.max([record["layer_similarity"][key][layer] for layer in record["layer_similarity"][key]], axis=0)
        np.testing.assert_allclose(best, record["similarity"][key], atol=1e-12)
