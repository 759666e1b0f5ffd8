"""Cross-temporal RSA end to end: random-init CORnet-S (64 px images) on generated THINGS-EEG2 data, every recurrent
step against every EEG time point, checked against a forward pass with hooks, scipy RDMs and scipy Spearman."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2.data import image_paths
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.things_eeg_rsa.cross_temporal import cross_temporal_rsa, recurrent_modules
from model_registry import Preprocessing, RegisteredModel, get_spec, load_model

STEPS = ["V1.output", "V2.output-t0", "V2.output-t1", "V4.output-t0", "V4.output-t1", "V4.output-t2",
         "V4.output-t3", "IT.output-t0", "IT.output-t1"]


@pytest.fixture(scope="module")
def eeg_root(tmp_path_factory):
    return generate_things_eeg2(tmp_path_factory.mktemp("ct") / "things-eeg2", n_subjects=3, n_test_images=12,
                                n_test_repetitions=4, n_train_concepts=2, n_train_per_concept=2,
                                n_train_repetitions=2, image_size=32, progress=False)


def small_cornet() -> RegisteredModel:
    """Random-init CORnet-S reading 64 x 64 images (its adaptive pooling allows any size)."""
    spec = dataclasses.replace(get_spec("cornet_s"), preprocessing=Preprocessing(image_size=64))
    torch.manual_seed(0)
    return RegisteredModel(spec, pretrained=False, progress=False, batch_size=12)


def hand_step_features(model: RegisteredModel, root) -> dict[str, np.ndarray]:
    """Every call of each block's ``output`` module, recorded by our own hooks on one forward pass."""
    pixels = torch.stack([model.spec.preprocessing.normalize(model.spec.preprocessing.to_pixels(Image.open(p)))
                          for p in image_paths("test", root)])
    calls: dict[str, list[np.ndarray]] = {m: [] for m in ("V1", "V2", "V4", "IT")}
    network = model.network
    handles = [getattr(network, m).output.register_forward_hook(
        lambda _m, _i, out, m=m: calls[m].append(out.detach().flatten(1).double().numpy().copy())) for m in calls]
    with torch.no_grad():
        network(pixels)
    for handle in handles:
        handle.remove()
    return {f"{m}.output" + (f"-t{k}" if len(values) > 1 else ""): value
            for m, values in calls.items() for k, value in enumerate(values)}


def hand_eeg_rdms(root, subject: int) -> np.ndarray:
    """1 - Pearson over channels of the repetition means, per time point (our own generated file)."""
    content = np.load(root / "preprocessed_data" / f"sub-{subject:02d}" / "preprocessed_eeg_test.npy",
                      allow_pickle=True).item()
    means = content["preprocessed_eeg_data"].mean(axis=1)  # (images, channels, times)
    return np.stack([pdist(means[:, :, t], "correlation") for t in range(means.shape[2])])


def test_every_step_against_every_time_point_equals_a_hand_computation(eeg_root):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=64)
    model = small_cornet()
    assert recurrent_modules(model) == ["V1.output", "V2.output", "V4.output", "IT.output"]
    result = cross_temporal_rsa(model, benchmark)
    similarity = result.similarity
    assert similarity.dims == ("subject", "layer", "time")
    assert similarity.shape == (3, 9, 100)
    assert similarity["layer"].values.tolist() == STEPS
    assert similarity["block"].values.tolist() == ["V1.output"] + ["V2.output"] * 2 + ["V4.output"] * 4 + \
        ["IT.output"] * 2
    assert similarity["step"].values.tolist() == [0, 0, 1, 0, 1, 2, 3, 0, 1]
    assert result.subjects == [1, 2, 3] and result.method == "correlation" and result.comparison == "spearman"

    features = hand_step_features(model, eeg_root)
    assert list(features) == STEPS
    for subject in (1, 2, 3):
        eeg = hand_eeg_rdms(eeg_root, subject)
        for name in STEPS if subject == 1 else ["V4.output-t2"]:
            model_rdm = pdist(features[name], "correlation")
            expected = [spearmanr(model_rdm, eeg[t])[0] for t in range(eeg.shape[0])]
            np.testing.assert_allclose(similarity.sel(subject=subject, layer=name).values, expected, atol=1e-6)
    # the steps of a recurrent block are different representations, so their rows differ
    v4 = similarity.sel(subject=1).values[3:7]
    assert np.abs(v4[0] - v4[3]).max() > 1e-3

    clusters = result.clusters
    assert clusters is not None and clusters.t_values.shape == (9, 100) and result.family == "matrix"
    assert len(clusters.null_distributions) == 1
    table = result.cluster_table()
    assert len(table) == len(clusters.clusters)
    for row, (step, times) in zip(table, clusters.clusters):
        assert row["layer"] == STEPS[step] and row["start"] == pytest.approx(similarity["time"].values[times[0]])
    peaks = result.peak_times()
    window = (similarity["time"].values >= 0) & (similarity["time"].values <= 0.5 + 1e-9)
    mean = similarity.mean("subject").values
    for k in range(9):
        assert peaks.values[k] == similarity["time"].values[window][np.argmax(mean[k, window])]

    # the same benchmark object, one subject: no cluster test, and the EEG ranks are the benchmark's own
    single = cross_temporal_rsa(model, load_benchmark("things-eeg-rsa-correlation", root=eeg_root,
                                                      score_subjects=[2], n_permutations=64))
    assert single.subjects == [2] and single.clusters is None and "1 subject" in single.note
    np.testing.assert_allclose(single.similarity.values[0], similarity.sel(subject=2).values, atol=1e-12)

    chosen = cross_temporal_rsa(model, benchmark, ["V4.output-t2", "IT.output"], family="step")
    assert chosen.similarity["layer"].values.tolist() == ["V4.output-t2", "IT.output-t0", "IT.output-t1"]
    np.testing.assert_allclose(chosen.similarity.values, similarity.sel(layer=chosen.similarity["layer"]).values,
                               atol=1e-12)
    assert len(chosen.clusters.null_distributions) == 3


def test_bad_requests_fail_before_the_model_runs(eeg_root):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0)
    model = small_cornet()
    with pytest.raises(ValueError, match="listed more than once"):
        cross_temporal_rsa(model, benchmark, ["V4.output", "V4.output"])
    with pytest.raises(ValueError, match=r"'V4.output-t1' is already included by 'V4.output'"):
        cross_temporal_rsa(model, benchmark, ["V4.output", "V4.output-t1"])
    with pytest.raises(ValueError, match="unknown family"):
        cross_temporal_rsa(model, benchmark, family="lattice")
    with pytest.raises(ValueError, match="n_permutations"):
        cross_temporal_rsa(model, benchmark, n_permutations=1)
    assert model._network is None  # nothing was built
    resnet = load_model("torchvision:resnet18", pretrained=False, progress=False)
    with pytest.raises(ValueError, match=r"torchvision:resnet18.*declares no recurrent steps"):
        cross_temporal_rsa(resnet, benchmark)
    assert resnet._network is None
    with pytest.raises(TypeError, match="things-eeg-rsa benchmark"):
        cross_temporal_rsa(model, object())
    with pytest.raises(ValueError, match=r"'V5.output' is not a module.*V4.output"):
        cross_temporal_rsa(model, benchmark, ["V5.output"])
    assert benchmark._eeg is None  # the EEG RDMs are computed only after the model's layers were read
