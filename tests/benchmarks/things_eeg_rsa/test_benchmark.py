"""things-eeg-rsa on generated THINGS-EEG2 data whose EEG is planted from a known network's features."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2.data import image_paths
from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
from model_registry import Preprocessing, load_model, register_model

PEAK = 0.15
SEED = 0
PIXELS = Preprocessing(image_size=64, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))


class PlantedPattern(torch.nn.Module):
    """The generator's map from images to the planted EEG pattern: features -> z-score -> W -> unit channels."""

    def __init__(self, root):
        super().__init__()
        self.features = RandomConvFeatures(seed=0).network
        files = image_paths("training", root) + image_paths("test", root)
        images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
        every = RandomConvFeatures(seed=0)(images)  # (N_all, F) as the generator computed them
        std = every.std(axis=0)
        weights = np.random.default_rng([SEED, 4]).standard_normal((every.shape[1], 17))
        pattern = (every - every.mean(axis=0)) / np.where(std > 0, std, 1.0) @ weights
        for name, value in (("mean", every.mean(axis=0)), ("std", np.where(std > 0, std, 1.0)),
                            ("weights", weights), ("channel_std", pattern.std(axis=0))):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))
        self.pattern = torch.nn.Identity()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        z = (self.features(pixels) - self.mean) / self.std
        return self.pattern(z @ self.weights / self.channel_std)


@pytest.fixture(scope="module")
def eeg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("things-eeg2")
    generate_things_eeg2(root / "things-eeg2", n_subjects=6, n_test_images=30, n_test_repetitions=12,
                         peak_time=PEAK, noise=1.0, seed=SEED, progress=False, overwrite=True)
    root = root / "things-eeg2"
    register_model("test_eeg_brain_model", family="test", layers=("features.7", "pattern"),
                   region_layer_map={"IT": "pattern"}, preprocessing=PIXELS)(lambda pretrained: PlantedPattern(root))
    return root


def test_generating_network_beats_a_random_one_and_the_peak_is_recovered(eeg_root):
    """Measured (6 generated subjects, 30 images, 12 repetitions, noise 1): the planted-pattern model scores 1.10
    (above the lower noise ceiling, as the noise-free truth should; best layer 'pattern', peak 0.15 s); a
    random-init ResNet-18 scores 0.59 at its best layer. The test asks for a margin of 0.2."""
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=200)
    brain = benchmark(load_model("test_eeg_brain_model", progress=False))
    other = benchmark(load_model("torchvision:resnet18", pretrained=False, progress=False))
    assert brain.attrs["best_layer"] == "pattern"
    assert abs(brain.attrs["peak_time"] - PEAK) <= 0.02
    assert float(brain) > float(other) + 0.2, (float(brain), float(other))
    similarity = brain.attrs["similarity"]
    assert similarity.sizes == {"subject": 6, "layer": 2, "time": 100}
    lower, upper = brain.attrs["ceiling_lower"], brain.attrs["ceiling_upper"]
    assert (lower <= upper + 1e-12).all()
    assert float(lower.sel(time=PEAK, method="nearest")) > 0.3  # the planted signal is shared by subjects
    clusters = brain.attrs["clusters"][brain.attrs["best_layer"]]
    assert any(c["start"] <= PEAK <= c["end"] and c["p"] < 0.05 for c in clusters)
    before = float(similarity.sel(layer=brain.attrs["best_layer"]).sel(time=slice(-0.2, -0.05)).mean())
    assert abs(before) < 0.15  # nothing before stimulus onset


def test_realnet_models_are_scored_against_their_own_subject(eeg_root):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0)
    _, rdms, _ = benchmark.eeg()
    models = rdms[1, 30:32]  # two "layers": subject 2's RDMs at two times
    # the subject comes from the model (here given as it would be read from its spec), never from its id
    own = benchmark.score_rdms(models, ["a", "b"], "realnet_s02_b100", subject=2)
    assert own.attrs["subjects"] == [2]
    with pytest.raises(ValueError, match="records no training subject but its id names subject 2"):
        benchmark.score_rdms(models, ["a", "b"], "realnet_s02_b100")  # the id alone never decides, nor is ignored
    everyone = benchmark.score_rdms(models, ["a", "b"], "cornet_s")
    assert everyone.attrs["subjects"] == [1, 2, 3, 4, 5, 6]
    chosen = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=0, score_subjects=[3, 4])
    assert chosen.score_rdms(models, ["a", "b"], "cornet_s").attrs["subjects"] == [3, 4]
    with pytest.raises(ValueError, match="subject 9"):
        benchmark.score_rdms(models, ["a", "b"], "realnet_s09_b100", subject=9)


def test_eeg_rdms_are_cached(eeg_root, monkeypatch):
    from benchmarks.things_eeg_rsa import benchmark as module

    first = module.ThingsEEGRsaBenchmark("correlation", root=eeg_root).eeg()[1]
    monkeypatch.setattr(module, "eeg_rdms", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = module.ThingsEEGRsaBenchmark("correlation", root=eeg_root).eeg()[1]
    np.testing.assert_array_equal(first, again)


def test_bad_options_are_named(eeg_root):
    with pytest.raises(ValueError, match="unknown EEG RDM method 'svm'"):
        load_benchmark("things-eeg-rsa-svm", root=eeg_root)
    # a typo in the method part of the id gets the suggestion other unknown ids get
    with pytest.raises(ValueError, match="did you mean things-eeg-rsa-correlation"):
        load_benchmark("things-eeg-rsa-corelation", root=eeg_root)
    with pytest.raises(ValueError, match="holds no EEG time point"):  # between two 10 ms samples
        _ = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, window=(0.001, 0.005)).ceiling
    # a window in milliseconds is refused, not cut silently to the epoch (-0.20 .. 0.79 s here)
    for window, option in (((0, 500), "window"), ((-100, 100), "window"), ((2.0, 3.0), "window")):
        with pytest.raises(ValueError, match=rf"^{option} \[.*\] s reaches past the EEG time points \(the EEG "
                                             r"epoch is -0\.200\.\.0\.790 s\); windows are in seconds"):
            _ = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, window=window).ceiling
    with pytest.raises(ValueError, match=r"^cluster_window \[0, 490\] s reaches past"):
        load_benchmark("things-eeg-rsa-correlation", root=eeg_root, cluster_window=(0, 490)).validate()
    # one sample beyond the last time point is the epoch's end, not an error
    load_benchmark("things-eeg-rsa-correlation", root=eeg_root, window=(0.0, 0.8)).validate()


def test_bootstrap_intervals_and_model_improvement(eeg_root):
    from benchmarks.things_eeg_rsa.benchmark import improvement

    benchmark = load_benchmark("things-eeg-rsa-correlation", root=eeg_root, n_permutations=64, n_bootstrap=200)
    brain = benchmark(load_model("test_eeg_brain_model", progress=False))
    low, high = brain.attrs["similarity_ci_low"].values, brain.attrs["similarity_ci_high"].values
    mean = brain.attrs["similarity"].sel(layer=brain.attrs["best_layer"]).mean("subject").values
    at_peak = int(np.argmin(np.abs(brain.attrs["similarity"]["time"].values - PEAK)))
    assert low[at_peak] < mean[at_peak] < high[at_peak] and low[at_peak] > 0
    # a copy of the score whose similarity is lower by a subject-dependent amount after 100 ms (before: jitter
    # that averages to zero, so every time point has a defined t value)
    weaker = brain.copy()
    weaker.attrs = dict(brain.attrs)
    similarity = brain.attrs["similarity"]
    subjects = np.arange(similarity.sizes["subject"])[:, None, None]
    later = (similarity["time"] > 0.1).values[None, None, :]
    drop = np.where(later, 0.1 + 0.01 * subjects, 0.002 * (subjects - subjects.mean()))
    weaker.attrs["similarity"] = similarity - drop
    result = improvement(brain, weaker, layer="pattern", n_permutations=64)
    after = similarity["time"].values > 0.1
    np.testing.assert_allclose(result.improvement[after], drop[:, 0, after].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(result.improvement[~after], 0, atol=1e-12)
    assert result.significant_mask().sum() > 0 and not result.significant_mask()[~after].any()
