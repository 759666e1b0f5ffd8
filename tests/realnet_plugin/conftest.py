"""Real benchmark results for the figure and page tests (the session fixture ``eeg_board``): two small
networks scored by ``things-eeg-rsa-correlation`` on a generated THINGS-EEG2 dataset (6 subjects: a sign-flip
cluster test needs 5+ to reach p < 0.05) through the leaderboard, once per session.

``fig_planted`` is the generator's own feature network (its RDMs match the planted EEG structure, so the cluster
test finds clusters around the planted peak); ``fig_other`` is the same architecture with other random weights.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
from model_registry import Preprocessing, list_models, register_model

PLANTED, OTHER = "test_fig_planted", "test_fig_other"
EEG_BENCHMARK = "things-eeg-rsa-correlation"
LAYERS = ("1", "3", "7")  # relu after conv 1 and 2, flattened 2 x 2 pooled output
PIXELS = Preprocessing(image_size=64, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
PEAK = 0.15


@dataclass(frozen=True)
class EegBoard:
    root: Path
    results: list  # PairResult: both models x (all 6 subjects, subject 1 only)
    options: dict  # benchmark options of the all-subjects column
    planted: str = PLANTED
    other: str = OTHER
    benchmark: str = EEG_BENCHMARK
    peak: float = PEAK  # s, the planted EEG peak

    def attrs(self, model: str, subjects: str = "all") -> dict:
        """The stored score attrs (the JSON ``realnet score --json`` writes) of ``model`` in one column."""
        for result in self.results:
            single = "score_subjects" in json.loads(result.options)
            if result.model == model and single == (subjects == "one"):
                return json.loads(result.attrs)
        raise KeyError((model, subjects))


def _register() -> None:
    for identifier, seed in ((PLANTED, 0), (OTHER, 7)):
        if identifier not in list_models(identifier):
            register_model(identifier, family="test", layers=LAYERS, region_layer_map={"IT": "7"},
                           preprocessing=PIXELS)(lambda pretrained, seed=seed: RandomConvFeatures(seed=seed).network)


@pytest.fixture(scope="session")
def eeg_board(tmp_path_factory) -> EegBoard:
    """Both test networks scored on generated THINGS-EEG2 data through the leaderboard (all subjects; subject 1)."""
    from realnet_plugin.leaderboard import run_leaderboard

    root = generate_things_eeg2(tmp_path_factory.mktemp("figdata") / "things-eeg2", n_subjects=6, n_test_images=16,
                                n_test_repetitions=4, n_train_concepts=2, n_train_per_concept=2,
                                n_train_repetitions=2, image_size=32, peak_time=PEAK, noise=0.5, progress=False)
    _register()
    db = tmp_path_factory.mktemp("figdb") / "board.sqlite"
    options = {"root": str(root), "n_permutations": 200}
    results = []
    for extra in ({}, {"score_subjects": [1]}):
        run = run_leaderboard([PLANTED, OTHER], [EEG_BENCHMARK], db=db, benchmark_options={**options, **extra},
                              progress=False)
        assert all(r.ok for r in run.results), [r.message for r in run.results]
        results += run.results
    return EegBoard(root, results, options)
