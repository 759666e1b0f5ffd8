"""THINGS-EEG2 as researchers have it: 63 channels, 250 Hz, float32, and undefined time points. Each score is
recomputed here independently (numpy correlation RDMs, scipy Spearman, the noise ceiling by hand)."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from benchmarks.datasets.things_eeg2.data import CHANNEL_NAMES, load_subject
from benchmarks.datasets.things_eeg2.synth import MONTAGE_63, RandomConvFeatures, generate_things_eeg2
from benchmarks.things_eeg_rsa import benchmark as module
from benchmarks.things_eeg_rsa.benchmark import ThingsEEGRsaBenchmark, UndefinedTimeWarning, smoothing_samples
from model_registry import Preprocessing, load_model, register_model

PIXELS = Preprocessing(image_size=64, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
MODEL = "test_eeg_variant_features"
CONSTANT_MODEL = "test_eeg_constant_layer"


def reference_load(path):
    """np.load with pickles allowed: only for computing references, in tests."""
    return np.load(path, allow_pickle=True).item()


class ConstantLayer(torch.nn.Module):
    """Random conv features, then a layer that gives every image the same (non-constant) vector."""

    def __init__(self):
        super().__init__()
        self.body = RandomConvFeatures(seed=0).network
        self.register_buffer("vector", torch.arange(10, dtype=torch.float32))
        self.const = torch.nn.Identity()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.body(pixels)
        return self.const(self.vector.expand(len(pixels), 10) + 0 * features[:, :1])


@pytest.fixture(scope="module")
def variant_root(tmp_path_factory):
    """3 subjects, 12 test images x 6 repetitions, all 63 channels, 250 Hz, float32."""
    root = generate_things_eeg2(tmp_path_factory.mktemp("variant") / "things-eeg2", n_subjects=3, n_test_images=12,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=6,
                                n_train_repetitions=2, noise=0.5, ch_names=MONTAGE_63, sampling_rate_hz=250.0,
                                dtype="float32", progress=False)
    register_model(MODEL, family="test", layers=("3", "7"), region_layer_map={"IT": "7"},
                   preprocessing=PIXELS)(lambda pretrained: RandomConvFeatures(seed=0).network)
    register_model(CONSTANT_MODEL, family="test", layers=("body.7", "const"), region_layer_map={"IT": "const"},
                   preprocessing=PIXELS)(lambda pretrained: ConstantLayer())
    return root


# ------------------------------------------------------------------------------------------------------------
# the independent computation


def condensed(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(len(matrix), k=1)]


def hand_model_rdms(root) -> dict[str, np.ndarray]:
    """1 - Pearson (np.corrcoef) of the network's layer outputs on the decoded test images, in metadata order."""
    metadata = reference_load(root / "image_metadata.npy")
    paths = [root / "image_set" / "test_images" / c / f
             for c, f in zip(metadata["test_img_concepts"], metadata["test_img_files"])]
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    network = RandomConvFeatures(seed=0).network
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - 0.5
    with torch.no_grad():
        outputs = {"3": network[:4](pixels), "7": network(pixels)}
    return {name: condensed(1 - np.corrcoef(out.flatten(1).double().numpy())) for name, out in outputs.items()}


def hand_eeg_rdms(root, subject: int, channels: list[str], skip=()) -> tuple[np.ndarray, np.ndarray]:
    """(times, (n_times, n_pairs)) 1 - Pearson over the named channels of the repetition mean, by np.corrcoef;
    rows at time indices ``skip`` are NaN (undefined by construction)."""
    content = reference_load(root / "preprocessed_data" / f"sub-{subject:02d}" / "preprocessed_eeg_test.npy")
    index = [list(content["ch_names"]).index(name) for name in channels]
    means = content["preprocessed_eeg_data"][:, :, index].astype(np.float64).mean(axis=1)  # (N, C, T)
    times = np.asarray(content["times"])
    rdms = np.full((len(times), means.shape[0] * (means.shape[0] - 1) // 2), np.nan)
    for t in range(len(times)):
        if t not in skip:
            rdms[t] = condensed(1 - np.corrcoef(means[:, :, t]))
    return times, rdms


def hand_score(models: dict[str, np.ndarray], eeg: np.ndarray, times: np.ndarray, window=(0.0, 0.5)) -> dict:
    """eeg (subjects, times, pairs) with NaN rows where undefined -> score as the benchmark defines it."""
    n_subjects = len(eeg)
    names = list(models)
    similarity = np.full((n_subjects, len(names), len(times)), np.nan)
    lower = np.full(len(times), np.nan)
    for t in range(len(times)):
        for s in range(n_subjects):
            for i, name in enumerate(names):
                if not np.isnan(eeg[s, t]).any():  # each subject keeps its defined time points
                    similarity[s, i, t] = stats.spearmanr(models[name], eeg[s, t]).statistic
        if np.isnan(eeg[:, t]).any():
            continue  # the ceiling needs every subject
        lower[t] = np.mean([stats.spearmanr(eeg[s, t], np.delete(eeg[:, t], s, axis=0).mean(axis=0)).statistic
                            for s in range(n_subjects)])
    in_window = (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)
    defined = in_window & np.isfinite(lower)
    mean = similarity.mean(axis=0)
    best = int(mean[:, defined].mean(axis=1).argmax())
    raw = mean[best, defined].mean()
    return {"score": raw / lower[defined].mean(), "raw": raw, "best": names[best], "similarity": similarity,
            "left_out": times[in_window & ~defined]}


# ------------------------------------------------------------------------------------------------------------
# 63 channels, 250 Hz, float32


def test_variant_files_are_read_as_written(variant_root):
    content = reference_load(variant_root / "preprocessed_data" / "sub-01" / "preprocessed_eeg_test.npy")
    assert content["preprocessed_eeg_data"].dtype == np.float32
    assert content["preprocessed_eeg_data"].shape == (12, 6, 63, 250)
    np.testing.assert_allclose(np.diff(content["times"]), 1 / 250.0, atol=1e-12)
    eeg = load_subject(1, "test", variant_root)
    assert eeg.data.dtype == np.float32 and eeg.ch_names == CHANNEL_NAMES and eeg.file_ch_names == MONTAGE_63
    index = [MONTAGE_63.index(name) for name in CHANNEL_NAMES]
    np.testing.assert_array_equal(eeg.data, content["preprocessed_eeg_data"][:, :, index])
    assert eeg.sampling_rate_hz == pytest.approx(250.0)


@pytest.mark.parametrize("channels", [None, ["Oz", "O1", "O2", "POz", "Cz", "Fz"]], ids=["default-17", "by-name"])
def test_63_channels_at_250_hz_in_float32_scored_end_to_end(variant_root, channels):
    benchmark = ThingsEEGRsaBenchmark("correlation", root=variant_root, n_permutations=20, channels=channels)
    result = benchmark(load_model(MODEL, progress=False))
    chosen = list(CHANNEL_NAMES) if channels is None else channels
    hand = [hand_eeg_rdms(variant_root, s, chosen) for s in (1, 2, 3)]
    times = hand[0][0]
    expected = hand_score(hand_model_rdms(variant_root), np.stack([rdms for _, rdms in hand]), times)
    assert float(result) == pytest.approx(expected["score"], rel=1e-6)
    assert float(result.attrs["raw"]) == pytest.approx(expected["raw"], rel=1e-6)
    assert result.attrs["best_layer"] == expected["best"]
    np.testing.assert_allclose(result.attrs["similarity"].values, expected["similarity"], atol=1e-6)
    np.testing.assert_array_equal(result.attrs["similarity"]["time"].values, times)
    assert result.attrs["channels"] == chosen and result.attrs["sampling_rate_hz"] == pytest.approx(250.0)
    assert result.attrs["left_out_times"] == []
    assert set(result.attrs["clusters"]) == {"3", "7"}
    for clusters in result.attrs["clusters"].values():
        assert all(c["start"] in times and c["end"] in times for c in clusters)


def test_decoding_smoothing_window_follows_the_sampling_rate(variant_root, small_dataset, monkeypatch):
    # 50 ms: 5 samples at 100 Hz (the paper), 12.5 at 250 Hz -> the nearest odd count, 13
    assert [smoothing_samples(rate) for rate in (100.0, 250.0, 500.0, 20.0)] == [5, 13, 25, 1]
    seen = []
    monkeypatch.setattr(module, "eeg_rdms", lambda data, method, **params: seen.append(params) or np.zeros(
        (data.shape[3], data.shape[0] * (data.shape[0] - 1) // 2)) + np.arange(data.shape[0] * (data.shape[0] - 1)
                                                                                // 2))
    for root, expected in ((variant_root, 13), (small_dataset, 5)):
        seen.clear()
        # navg=1: the protocol must fit the files' 6 / 16 repetitions (checked before any RDM is computed)
        ThingsEEGRsaBenchmark("decoding-svm", root=root, cache=False, method_params={"navg": 1}).eeg()
        assert seen and all(params["smooth_window"] == expected for params in seen)
    seen.clear()
    ThingsEEGRsaBenchmark("decoding-lda", root=variant_root, cache=False,
                          method_params={"smooth_window": 3, "navg": 1}).eeg()
    assert all(params["smooth_window"] == 3 for params in seen)


# ------------------------------------------------------------------------------------------------------------
# undefined time points


@pytest.fixture
def flat_root(small_dataset, tmp_path):
    """The small dataset with a flat EEG sample for subject 1 at -0.20 s and for subject 2 at 0.10 s."""
    root = shutil.copytree(small_dataset, tmp_path / "things-eeg2")
    for subject, t in ((1, 0), (2, 30)):
        path = root / "preprocessed_data" / f"sub-{subject:02d}" / "preprocessed_eeg_test.npy"
        content = reference_load(path)
        content["preprocessed_eeg_data"][..., t] = 0.25
        np.save(path, content, allow_pickle=True)
    return root


def test_an_undefined_time_point_is_left_out_with_a_warning(flat_root):
    hand = [hand_eeg_rdms(flat_root, s, list(CHANNEL_NAMES), skip=skip) for s, skip in ((1, (0,)), (2, (30,)))]
    times, eeg = hand[0][0], np.stack([rdms for _, rdms in hand])
    rng = np.random.default_rng(0)
    models = {"a": eeg[0, 35], "b": rng.random(eeg.shape[-1])}  # (n_pairs,) each
    benchmark = ThingsEEGRsaBenchmark("correlation", root=flat_root, n_permutations=20, n_bootstrap=20)
    with pytest.warns(UndefinedTimeWarning) as caught:
        result = benchmark.score_rdms(np.stack(list(models.values())), list(models), "some_model")
    messages = [str(w.message) for w in caught if issubclass(w.category, UndefinedTimeWarning)]
    assert any("subject 1" in m and "sub-01/preprocessed_eeg_test.npy" in m and "-0.200" in m for m in messages)
    assert any("subject 2" in m and "sub-02/preprocessed_eeg_test.npy" in m and "+0.100" in m for m in messages)
    expected = hand_score(models, eeg, times)
    assert float(result) == pytest.approx(expected["score"], rel=1e-9)
    assert float(result.attrs["raw"]) == pytest.approx(expected["raw"], rel=1e-9)
    assert result.attrs["left_out_times"] == pytest.approx([0.10]) == list(expected["left_out"])
    similarity = result.attrs["similarity"].values
    np.testing.assert_allclose(similarity, expected["similarity"], atol=1e-12, equal_nan=True)
    assert np.isnan(similarity[0, :, 0]).all() and np.isnan(similarity[1, :, 30]).all()
    assert np.isfinite(similarity[1, :, 0]).all() and np.isfinite(similarity[0, :, 30]).all()
    assert np.isnan(result.attrs["ceiling_lower"].values[[0, 30]]).all()
    assert np.isnan(result.attrs["similarity_ci_low"].values[30])
    assert all(not (c["start"] <= 0.10 <= c["end"]) for cs in result.attrs["clusters"].values() for c in cs)


def test_an_undefined_model_rdm_names_model_and_layer(variant_root, small_dataset):
    benchmark = ThingsEEGRsaBenchmark("correlation", root=small_dataset, n_permutations=0)
    n_pairs = benchmark.eeg()[1].shape[-1]
    models = np.stack([np.arange(n_pairs, dtype=float), np.full(n_pairs, 0.3)])
    with pytest.raises(ValueError, match=r"model my_net layer 'IT': its RDM is constant \(0.3 for every pair\)"):
        benchmark.score_rdms(models, ["V4", "IT"], "my_net")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedTimeWarning)
        with pytest.raises(ValueError, match=rf"model {CONSTANT_MODEL} layer 'const': its RDM is constant"):
            ThingsEEGRsaBenchmark("correlation", root=variant_root, n_permutations=0)(
                load_model(CONSTANT_MODEL, progress=False))
