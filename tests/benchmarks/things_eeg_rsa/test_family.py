"""Model families on things-eeg-rsa: subject-specific models scored as one group result (issue 12, section 1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mne.stats import permutation_cluster_1samp_test
from scipy import stats

from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from model_registry.preprocessing import Preprocessing
from model_registry.realnet import ReAlnet, ReAlnetConfig, TrainedRun, save_trained
from model_registry.storage.paths import models_dir
from realnet_plugin import load_benchmark, score

CONFIG = ReAlnetConfig(image_size=32)  # the whole CORnet-S backbone, small EEG heads
BENCHMARK = "things-eeg-rsa-correlation"
WINDOW = [-0.1, 0.49]  # the paper's analysis window


@pytest.fixture(scope="module")
def eeg3(tmp_path_factory):
    """3 generated subjects, 12 test images."""
    return generate_things_eeg2(tmp_path_factory.mktemp("family") / "things-eeg2", n_subjects=3, n_test_images=12,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=4,
                                n_train_repetitions=2, image_size=32, progress=False)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Untrained tiny ReAlnets saved as trained runs of subjects 1-3 (different seeds: different RDMs)."""
    root = tmp_path_factory.mktemp("family_models")
    for subject in (1, 2, 3):
        torch.manual_seed(subject)
        save_trained(ReAlnet(CONFIG), TrainedRun(subject=subject, beta=100.0, config=CONFIG,
                                                 preprocessing=Preprocessing(32)), root=root)
    return root


@pytest.fixture
def installed(saved_models):
    """The three runs in this test's REALNET_HOME."""
    import shutil

    for folder in saved_models.iterdir():
        shutil.copytree(folder, models_dir() / folder.name)
    return saved_models


def _options(root, **extra):
    return {"root": str(root), "n_permutations": 64, "ceiling": False, "window": WINDOW, "layers": ["V4", "IT"],
            **extra}


def test_family_score_has_every_subject_own_model_ceiling_and_mne_clusters(eeg3, installed):
    with pytest.warns(UserWarning, match="leaves out 7 matching model"):  # published s04..s10: no EEG here
        family = score("realnet_s*_b100", BENCHMARK, min_cluster_length=1, **_options(eeg3))
    similarity = family.attrs["similarity"]
    assert similarity.sizes["subject"] == 3 and similarity["subject"].values.tolist() == [1, 2, 3]
    assert family.attrs["subject_models"] == ["realnet_s01_b100", "realnet_s02_b100", "realnet_s03_b100"]
    assert family.attrs["family"] is True and family.attrs["cluster_window"][0] == pytest.approx(-0.1)
    # each subject's row is its own model's: the single-model score (match_subject) is a second path
    for subject in (1, 2, 3):
        alone = score(f"realnet_s{subject:02d}_b100", BENCHMARK, **_options(eeg3))
        assert alone.attrs["subjects"] == [subject]
        np.testing.assert_allclose(similarity.sel(subject=subject).values,
                                   alone.attrs["similarity"].sel(subject=subject).values, atol=1e-12)
    other = score("realnet_s01_b100", BENCHMARK, match_subject=False, **_options(eeg3))
    assert not np.allclose(similarity.sel(subject=2).values, other.attrs["similarity"].sel(subject=2).values)
    # the ceiling over the family's subjects: here all 3, as a plain benchmark of these subjects computes it
    plain = load_benchmark(BENCHMARK, root=str(eeg3), subjects=[1, 2, 3])
    _, lower, _ = plain._prepared_eeg()
    np.testing.assert_allclose(family.attrs["ceiling_lower"].values, lower, atol=1e-12)
    # clusters per layer, inside the window only, equal to MNE's test on the same data (3 subjects: exact)
    times = similarity["time"].values
    inside = (times >= WINDOW[0] - 1e-9) & (times <= WINDOW[1] + 1e-9)
    assert set(family.attrs["clusters"]) == {"V4", "IT"}
    for layer in ("V4", "IT"):
        x = similarity.sel(layer=layer).values[:, inside]
        threshold = stats.t.ppf(0.95, 2)
        _, clusters, p_values, _ = permutation_cluster_1samp_test(x, threshold=threshold, n_permutations=64,
                                                                  tail=1, out_type="indices", verbose=False)
        expected = [(float(times[inside][c[0][0]]), float(times[inside][c[0][-1]]), float(p))
                    for c, p in zip(clusters, p_values)]
        found = [(c["start"], c["end"], c["p"]) for c in family.attrs["clusters"][layer]]
        assert expected and len(found) == len(expected)
        np.testing.assert_allclose(np.array(found), np.array(expected), atol=1e-9)
        assert all(WINDOW[0] - 1e-9 <= c["start"] <= c["end"] <= WINDOW[1] + 1e-9
                   for c in family.attrs["clusters"][layer])


def test_a_subset_family_gets_the_ceiling_of_its_own_subjects(eeg3, installed):
    family = score(["realnet_s01_b100", "realnet_s03_b100"], BENCHMARK, **_options(eeg3))
    assert family.attrs["subjects"] == [1, 3]
    plain = load_benchmark(BENCHMARK, root=str(eeg3), subjects=[1, 3])
    _, lower, upper = plain._prepared_eeg()
    np.testing.assert_allclose(family.attrs["ceiling_lower"].values, lower, atol=1e-12)
    np.testing.assert_allclose(family.attrs["ceiling_upper"].values, upper, atol=1e-12)
    full = load_benchmark(BENCHMARK, root=str(eeg3))
    assert not np.allclose(full._prepared_eeg()[1], lower)  # not the 3-subject ceiling


def test_family_refusals_are_one_line_before_any_model_is_built(eeg3, installed, monkeypatch):
    import model_registry

    monkeypatch.setattr(model_registry, "load_model", lambda *a, **k: pytest.fail("a model was built"))
    with pytest.raises(ValueError, match="cornet_s records no training subject") as error:
        score(["realnet_s01_b100", "cornet_s"], BENCHMARK, **_options(eeg3))
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="score_subjects=\\[1\\] does not apply to a family"):
        score("realnet_s0[12]_b100", BENCHMARK, score_subjects=[1], **_options(eeg3))
    with pytest.raises(ValueError, match=r"no registered model matches 'nothing_\*'"):
        score("nothing_*", BENCHMARK, **_options(eeg3))
    with pytest.raises(ValueError, match="subject 4, whose EEG is not"):
        score(["realnet_s01_b100", "realnet_s04_b100"], BENCHMARK, **_options(eeg3))


def test_min_cluster_length_drops_single_point_clusters_after_the_test():
    from benchmarks.rsa.stats import cluster_permutation_test

    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (8, 30))
    x[:, 5] += 3.0  # a one-point cluster
    x[:, 15:20] += 3.0  # a five-point cluster
    every = cluster_permutation_test(x, n_permutations=200, seed=1)
    neurora = cluster_permutation_test(x, n_permutations=200, seed=1, min_cluster_length=2)
    lengths = [len(c) for c in every.clusters]
    assert 1 in lengths and 5 in lengths
    kept = [i for i, c in enumerate(every.clusters) if len(c) >= 2]
    assert [c.tolist() for c in neurora.clusters] == [every.clusters[i].tolist() for i in kept]
    np.testing.assert_array_equal(neurora.cluster_p_values, every.cluster_p_values[kept])  # null unchanged
    # MNE, then NeuroRA's removal rule by hand
    _, clusters, p_values, _ = permutation_cluster_1samp_test(x, threshold=stats.t.ppf(0.95, 7), tail=1,
                                                              n_permutations=200, seed=1, out_type="indices",
                                                              verbose=False)
    by_hand = [(c[0].tolist(), p) for c, p in zip(clusters, p_values) if len(c[0]) >= 2]
    assert [(c.tolist(), p) for c, p in zip(neurora.clusters, neurora.cluster_p_values)] == by_hand
