"""Issue 11, section 1 in the leaderboard: bad options stop the run before the database is opened, benchmarks whose
data cannot be scored (one subject: no noise ceiling) build no model, and an undefined score is never an ``ok``
row."""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
import torch
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.options import BenchmarkOptionError
from benchmarks.registry import register_benchmark
from model_registry import Preprocessing, list_models, register_model
from realnet_plugin.leaderboard import LeaderboardStore, PairResult, run_leaderboard

PROBE = "test_lbval_probe"
BUILDS: list[str] = []
PIXELS = Preprocessing(image_size=16, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))


class NaNBenchmark(BenchmarkBase):
    """Scores every model NaN (as a zero noise ceiling would), with finite raw."""

    def __init__(self):
        super().__init__(identifier="test-lbval-nan", ceiling=Score(0.0), version=1, parent="test")

    def __call__(self, candidate) -> Score:
        result = Score(float("nan"))
        result.attrs.update({"raw": Score(0.3), "ceiling": Score(0.0)})
        return result


@pytest.fixture(scope="module", autouse=True)
def registrations():
    def build(pretrained: bool) -> torch.nn.Module:
        BUILDS.append(PROBE)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())

    if PROBE not in list_models(PROBE):
        register_model(PROBE, family="test", layers=("1", "2"), region_layer_map={"IT": "2"},
                       preprocessing=PIXELS)(build)
        register_benchmark("test-lbval-nan", NaNBenchmark)


@pytest.fixture(scope="module")
def one_subject(tmp_path_factory) -> Path:
    return generate_things_eeg2(tmp_path_factory.mktemp("one") / "things-eeg2", n_subjects=1, n_test_images=6,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=4,
                                n_train_repetitions=2, image_size=16, progress=False)


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT model, benchmark, status, score, message FROM results").fetchall()


def test_bad_options_stop_before_the_database_is_opened(tmp_path):
    db = tmp_path / "lb.sqlite"
    with pytest.raises(BenchmarkOptionError, match=r"^option window='0-0\.5' for things-eeg-rsa-correlation \(a str"):
        run_leaderboard(PROBE, "things-eeg-rsa-correlation", db=db, benchmark_options={"window": "0-0.5"},
                        progress=False)
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_one_subject_gives_error_rows_without_building_the_model(one_subject, tmp_path):
    db = tmp_path / "lb.sqlite"
    before = len(BUILDS)
    run = run_leaderboard(PROBE, "things-eeg-rsa-correlation", db=db, benchmark_options={"root": str(one_subject)},
                          progress=False)
    assert len(BUILDS) == before  # no model built: no benchmark could be scored
    assert [o.status for o in run.outcomes] == ["error"]
    message = run.results[0].message
    assert message.startswith("benchmark things-eeg-rsa-correlation could not be built: ValueError: "
                              "things-eeg-rsa-correlation: the noise ceiling needs the EEG of >= 2 subjects, found 1")
    assert [(m, b, s, score) for m, b, s, score, _ in _rows(db)] == [
        (PROBE, "things-eeg-rsa-correlation", "error", None)]


def test_unceiled_single_subject_scores_as_ok(one_subject, tmp_path):
    run = run_leaderboard(PROBE, "things-eeg-rsa-correlation", db=tmp_path / "lb.sqlite",
                          benchmark_options={"root": str(one_subject), "ceiling": False, "n_permutations": 0},
                          progress=False)
    result = run.results[0]
    assert result.ok and math.isfinite(result.score) and result.score == pytest.approx(result.raw)
    assert result.ceiling is None and json.loads(result.attrs)["ceiled"] is False


def test_an_undefined_score_is_stored_as_an_error(tmp_path):
    db = tmp_path / "lb.sqlite"
    run = run_leaderboard(PROBE, "test-lbval-nan", db=db, progress=False)
    assert [o.status for o in run.outcomes] == ["error"]
    (model, benchmark, status, score, message), = _rows(db)
    assert (model, benchmark, status, score) == (PROBE, "test-lbval-nan", "error", None)
    assert message == "the score is undefined (NaN or missing; raw 0.3, ceiling 0.0); stored as an error, not a success"


@pytest.mark.parametrize("value", [None, float("nan"), float("inf")])
def test_the_store_refuses_an_ok_row_without_a_finite_score(tmp_path, value):
    with LeaderboardStore(tmp_path / "lb.sqlite") as store:
        with pytest.raises(ValueError, match=rf"an ok row needs a finite score; m on b has score={value!r}"):
            store.record(PairResult(model="m", benchmark="b", weights_hash="h", benchmark_version="1", score=value))
        assert len(store) == 0


def test_options_only_some_benchmarks_refuse_are_error_rows(one_subject, tmp_path):
    db = tmp_path / "lb.sqlite"
    run = run_leaderboard(PROBE, "things-eeg-rsa-correlation,test-lbval-nan", db=db, progress=False,
                          benchmark_options={"root": str(one_subject), "ceiling": False, "n_permutations": 0})
    eeg, nan = run.results
    assert eeg.ok and not nan.ok
    assert nan.message == ("benchmark test-lbval-nan could not be built: BenchmarkOptionError: unknown option "
                           "'root' for test-lbval-nan; valid: none")


def test_options_every_benchmark_refuses_stop_the_run(tmp_path):
    db = tmp_path / "lb.sqlite"
    with pytest.raises(BenchmarkOptionError, match=r"^unknown option 'windw' for things-eeg-rsa-correlation; .* "
                                                   r"\(so do the 1 other selected benchmark\)$"):
        run_leaderboard(PROBE, "things-eeg-rsa-correlation,test-lbval-nan", db=db, progress=False,
                        benchmark_options={"windw": [0, 0.5]})
    assert not db.exists()


def test_one_data_root_for_benchmarks_of_different_datasets_is_refused(tmp_path):
    # a new user passed an EEG folder as root to an EEG and the Kriegeskorte benchmark: refused in one line before
    # anything is opened (the second benchmark would have downloaded its files into the EEG folder)
    db = tmp_path / "lb.sqlite"
    with pytest.raises(BenchmarkOptionError, match=r"^option root='/nowhere' would be given to every benchmark of the "
                                                   r"run \(kriegeskorte2008-hit-rsa, things-eeg-rsa-correlation\)"):
        run_leaderboard(PROBE, "kriegeskorte2008-hit-rsa,things-eeg-rsa-correlation", db=db, progress=False,
                        benchmark_options={"root": "/nowhere"})
    assert not db.exists()
