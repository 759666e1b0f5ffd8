"""Every interval a Score reports is of the quantity it is named after: ``raw_ci_*`` of ``attrs['raw']``,
``score_ci_*`` of the score (the raw divided by the fixed noise ceiling), per ROI / per time point their own.

The expected intervals are a hand bootstrap: the same resampling protocol (numpy's generator seeded like the
benchmark: image counts, then subjects), each resample's similarity by scipy on explicitly repeated pairs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.roi_rsa import RoiRdms, RoiRsaBenchmark
from realnet_plugin.leaderboard.page import ModelRow, table_records
from realnet_plugin.leaderboard.records import confidence_interval, raw_interval, result_from_score


def hand_bootstrap(subject_rdms: np.ndarray, model: np.ndarray, n_bootstrap: int, seed: int,
                   resample_subjects: bool = True) -> np.ndarray:
    """``subject_rdms`` (subject, k, pair), one model RDM (pair,) -> (n_bootstrap, k) subject-mean Spearman."""
    n_subjects, n_k, n_pairs = subject_rdms.shape
    n_images = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    rows, cols = np.triu_indices(n_images, k=1)
    rng = np.random.default_rng(seed)
    out = np.empty((n_bootstrap, n_k))
    for b in range(n_bootstrap):
        counts = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
        repeats = counts[rows] * counts[cols]
        table = np.array([[spearmanr(np.repeat(subject_rdms[s, k], repeats), np.repeat(model, repeats)).statistic
                           for k in range(n_k)] for s in range(n_subjects)])
        chosen = rng.integers(0, n_subjects, n_subjects) if resample_subjects else np.arange(n_subjects)
        out[b] = table[chosen].mean(axis=0)
    return out


def interval(samples: np.ndarray) -> np.ndarray:
    return np.nanpercentile(samples, [2.5, 97.5], axis=0)


def test_roi_benchmark_intervals_are_of_raw_and_of_score():
    rng = np.random.default_rng(3)
    n_images, n_subjects = 9, 4
    n_pairs = n_images * (n_images - 1) // 2
    truth = rng.random(n_pairs)
    rdms = {roi: truth + noise * rng.random((n_subjects, n_pairs)) for roi, noise in (("V1", 0.5), ("IT", 1.0))}
    data = RoiRdms("toy", tuple(f"s{i}" for i in range(n_subjects)), rdms, None, lambda: None)
    benchmark = RoiRsaBenchmark("toy-rsa", lambda: data, n_bootstrap=60, seed=7)
    models = np.stack([truth + 2.0 * rng.random(n_pairs), truth + 0.3 * rng.random(n_pairs), rng.random(n_pairs)])
    score = benchmark.score_rdms(models, ["a", "b", "c"])
    best = [["a", "b", "c"].index(score.attrs["best_layer"][roi]) for roi in ("V1", "IT")]
    ceilings = score.attrs["ceiling_lower"].values
    raw = np.stack([hand_bootstrap(rdms[roi][:, None, :], models[b], 60, 7)[:, 0]
                    for roi, b in zip(("V1", "IT"), best)], axis=1)  # (bootstrap, roi), one joint resampling
    ceiled = raw / ceilings
    np.testing.assert_allclose(score.attrs["roi_raw_ci_low"].values, interval(raw)[0], atol=1e-10)
    np.testing.assert_allclose(score.attrs["roi_score_ci_high"].values, interval(ceiled)[1], atol=1e-10)
    np.testing.assert_allclose([score.attrs["raw_ci_low"], score.attrs["raw_ci_high"]],
                               interval(raw.mean(axis=1)), atol=1e-10)
    np.testing.assert_allclose([score.attrs["score_ci_low"], score.attrs["score_ci_high"]],
                               interval(ceiled.mean(axis=1)), atol=1e-10)
    # each interval brackets its own estimate here, and the score's is not the raw's
    assert score.attrs["score_ci_low"] < float(score) < score.attrs["score_ci_high"]
    assert score.attrs["raw_ci_low"] < float(score.attrs["raw"]) < score.attrs["raw_ci_high"]
    assert score.attrs["score_ci_high"] > score.attrs["raw_ci_high"] + 0.05  # ceilings < 1 lift the score
    assert "ci_low" not in score.attrs and "ci_high" not in score.attrs  # no interval without its quantity's name

    # the leaderboard record and its downloads: the score's CI as the score's, the raw one as raw
    result = result_from_score(score, model="m", benchmark="toy-rsa", weights_hash="w", benchmark_version="2",
                               options="{}", pretrained=True, seconds=0.0)
    assert confidence_interval(dict(score.attrs)) == (result.ci_low, result.ci_high)
    assert result.ci_low == pytest.approx(interval(ceiled.mean(axis=1))[0], abs=1e-10)
    assert raw_interval(result) == pytest.approx(tuple(interval(raw.mean(axis=1))), abs=1e-10)
    row = ModelRow(model="m", pretrained=True, cells={"toy-rsa": result})
    record, = table_records([row], ["toy-rsa"], {"toy-rsa": "toy-rsa"}, {"toy-rsa": ""})
    assert record["score_ci_low"] == pytest.approx(interval(ceiled.mean(axis=1))[0], abs=1e-10)
    assert record["raw_ci_high"] == pytest.approx(interval(raw.mean(axis=1))[1], abs=1e-10)
    assert "ci_low" not in record


def test_no_bootstrap_reports_no_score_interval():
    rng = np.random.default_rng(1)
    rdms = {"V1": rng.random((3, 15))}
    data = RoiRdms("toy", ("a", "b", "c"), rdms, None, lambda: None)
    rdms["V1"][:] = rdms["V1"][0] + 0.1 * rdms["V1"]  # agreeing subjects: a positive ceiling
    score = RoiRsaBenchmark("toy-rsa", lambda: data, n_bootstrap=0).score_rdms(rng.random((1, 15)), ["a"])
    assert np.isnan(score.attrs["score_ci_low"]) and np.isnan(score.attrs["raw_ci_high"])
    assert confidence_interval(dict(score.attrs)) == (None, None)


@pytest.fixture(scope="module")
def eeg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("intervals") / "things-eeg2"
    return generate_things_eeg2(root, n_subjects=3, n_test_images=8, n_test_repetitions=6, n_train_concepts=2,
                                n_train_per_concept=2, n_train_repetitions=2, image_size=16, seed=5, progress=False)


@pytest.mark.parametrize("ceiled", [True, False])
def test_eeg_scalar_intervals_are_of_raw_and_of_score(eeg_root, ceiled):
    window = (0.0, 0.2)
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0, n_bootstrap=25,
                               seed=4, window=window, ceiling=ceiled)
    subjects, rdms, times = benchmark.eeg()
    model = np.random.default_rng(2).random(rdms.shape[-1])
    score = benchmark.score_rdms(model[None], ["a"], "toy")
    inside = (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)
    inside &= np.isfinite(score.attrs["similarity"].values.mean(axis=0)[0])
    samples = hand_bootstrap(rdms[:, inside], model, 25, 4)  # (bootstrap, time in the window)
    raw = interval(samples.mean(axis=1))
    np.testing.assert_allclose([score.attrs["raw_ci_low"], score.attrs["raw_ci_high"]], raw, atol=1e-10)
    divisor = float(score.attrs["ceiling"]) if ceiled else 1.0
    np.testing.assert_allclose([score.attrs["score_ci_low"], score.attrs["score_ci_high"]], raw / divisor,
                               atol=1e-10)
    assert score.attrs["score_ci_low"] <= float(score) <= score.attrs["score_ci_high"]
    assert score.attrs["similarity_ci_low"].sizes == {"time": len(times)}  # the time course's own, named so
    assert "ci_low" not in score.attrs
