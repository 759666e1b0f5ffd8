"""Stimulus order asserted wherever a model RDM meets a neural RDM (issue 13 section 3): cross-temporal RSA, the
ROI view of realnet_plugin.rdm_views and the RDM-model export; a swapped order is refused (or reordered by id),
never compared."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import model_registry
from benchmarks import load_benchmark
from benchmarks import model_features as model_features_module
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.model_features import LayerFeatures
from benchmarks.rdm_model import neural_rdms
from benchmarks.rsa.compare import RankedRDMs, reorder_rdms
from benchmarks.rsa.cross_temporal import cross_temporal_similarity
from benchmarks.things_eeg_rsa import cross_temporal as ct_module
from benchmarks.things_eeg_rsa.cross_temporal import cross_temporal_rsa


def _reversed(features: LayerFeatures) -> LayerFeatures:
    """The same features with rows and ids reversed: consistent with themselves, in another order."""
    return LayerFeatures(tuple(reversed(features.stimulus_ids)), {k: v[::-1] for k, v in features.items()})


def _tiny_model() -> model_registry.RegisteredModel:
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(3))
    return model_registry.wrap(network, "order_tiny", layers=["1", "2"], progress=False)


def test_cross_temporal_similarity_refuses_a_swapped_order_and_accepts_it_reordered():
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    values = rng.random((2, 5, 15))
    eeg = RankedRDMs(values, "spearman", stimulus_ids=ids)
    model = rng.random((3, 15))
    plain = cross_temporal_similarity(model, eeg, model_ids=ids)
    expected = np.array([[[spearmanr(row, eeg_row).statistic for eeg_row in subject] for row in model]
                         for subject in values])  # scipy, per subject, model row and time
    np.testing.assert_allclose(plain, expected, atol=1e-12)
    swapped = ids[::-1]
    with pytest.raises(ValueError, match=r"order their 6 stimuli differently \(position 0: 's5' vs 's0'\)"):
        cross_temporal_similarity(reorder_rdms(model, ids, swapped), eeg, model_ids=swapped)
    with pytest.raises(ValueError, match=r"over different stimuli"):
        cross_temporal_similarity(model, eeg, model_ids=[f"x{i}" for i in range(6)])
    back = reorder_rdms(reorder_rdms(model, ids, swapped), swapped, ids)
    np.testing.assert_array_equal(cross_temporal_similarity(back, eeg, model_ids=ids), plain)


def test_cross_temporal_rsa_asserts_the_model_order_against_the_eeg(tmp_path, monkeypatch):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=2, n_test_images=5, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=3, n_train_repetitions=2, image_size=16,
                                progress=False)
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=str(root), n_permutations=0)
    model = _tiny_model()
    result = cross_temporal_rsa(model, benchmark, ["1", "2"])
    assert result.similarity.shape[:2] == (2, 2)
    original = ct_module.layer_features
    monkeypatch.setattr(ct_module, "layer_features", lambda *a, **k: _reversed(original(*a, **k)))
    with pytest.raises(ValueError, match=r"order their 5 stimuli differently"):
        cross_temporal_rsa(model, benchmark, ["1", "2"])


def test_roi_rdm_view_asserts_the_model_order(kriegeskorte2008_dir, monkeypatch):
    from realnet_plugin.rdm_views import rdm_view

    model = _tiny_model()
    view = rdm_view(model, "kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir), layer="2")
    assert view.layer == "2"
    original = model_features_module.layer_features
    monkeypatch.setattr(model_features_module, "layer_features", lambda *a, **k: _reversed(original(*a, **k)))
    with pytest.raises(ValueError, match=r"^model order_tiny RDMs and the kriegeskorte2008 ROI RDMs order their 92 "
                                         r"stimuli differently"):
        rdm_view(model, "kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir), layer="2")


def test_neural_rdms_name_the_order_the_benchmark_read(tmp_path):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=2, n_test_images=4, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=3, n_train_repetitions=2, image_size=16,
                                progress=False)
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=str(root), n_permutations=0)
    exported = neural_rdms(benchmark)
    assert list(exported.pattern_descriptors["stimulus_id"]) == list(benchmark.stimuli.ids)
    _, rdms, _ = benchmark.eeg()
    np.testing.assert_array_equal(exported.get_vectors(), np.asarray(rdms).reshape(-1, rdms.shape[-1]))
